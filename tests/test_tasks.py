"""The task mechanism: one table of tasks, one per-task piece per layer, and manifests that carry the task."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nlpops.batch.writers import TASK_COLUMNS
from nlpops.bundle import load_bundle
from nlpops.checklist import ModelSettings
from nlpops.errors import BundleError, FamilyError, TaskError
from nlpops.families import TRAINERS, resolve_family
from nlpops.metrics import TASK_REPORTS
from nlpops.monitor.drift import COMPARERS
from nlpops.runtimes import TASK_OUTPUTS, load_predictor, predict_output
from nlpops.serve.routes import TASK_ENDPOINTS
from nlpops.tasks import TASK_NAMES, TASKS, Span, join_outputs, predicted_counts, task_spec, wrong_task_message

FIXTURE = Path(__file__).parent / "fixtures" / "bundle-v1-tfidf"


@pytest.mark.parametrize("task", TASK_NAMES)
def test_tasks_every_layer_has_a_piece_for_every_task(task: str) -> None:
    spec = task_spec(task)
    assert spec.name == task
    assert task in TASK_OUTPUTS  # runtimes: which Predictor method answers
    assert spec.endpoint in TASK_ENDPOINTS  # serving: the endpoint (decoder, encoder)
    assert task in TASK_ENDPOINTS[spec.endpoint][1].tasks
    assert task in TASK_COLUMNS  # batch: the columns
    assert all(statistic.kind in COMPARERS for statistic in spec.drift_statistics)  # monitor: the tests


@pytest.mark.parametrize("task", ["classification", "multilabel"])
def test_tasks_classifiers_are_scored(task: str) -> None:
    assert task in TASK_REPORTS


def test_tasks_family_is_the_configured_one_or_the_task_default() -> None:
    assert ("tfidf", "classification") in TRAINERS
    assert resolve_family(ModelSettings(), "classification") == "tfidf"
    with pytest.raises(FamilyError, match="The tfidf family does not train entities models"):
        resolve_family(ModelSettings(), "entities", "tfidf")


def test_tasks_unknown_task_is_a_clear_error() -> None:
    with pytest.raises(TaskError, match=r'Unknown task "ner"\. Known tasks: classification, multilabel'):
        task_spec("ner")


def test_tasks_wrong_endpoint_message_is_one_line_naming_the_right_endpoint() -> None:
    message = wrong_task_message("/v1/entities", "intents", "3", "classification")
    assert message == (
        "/v1/entities answers entities models; model intents version 3 is a classification model. "
        "Send it to /v1/classify."
    )


def test_tasks_wrong_endpoint_message_for_shared_and_unknown_endpoints() -> None:
    """/v1/classify answers two tasks; a path no task owns answers none; an unknown task gets no hint."""
    shared = wrong_task_message("/v1/classify", "m", "1", "entities")
    assert shared.startswith("/v1/classify answers classification or multilabel models;")
    assert shared.endswith("is an entities model. Send it to /v1/entities.")
    assert wrong_task_message("/v1/other", "m", "2", "embedding") == (
        "/v1/other answers no models; model m version 2 is an embedding model. Send it to /v1/embed."
    )
    assert wrong_task_message("/v1/embed", "m", "2", "poetry").endswith("is a poetry model.")


def test_tasks_predicted_counts_are_integers_and_empty_batches_count_nothing() -> None:
    proba = np.array([[0.7, 0.3]])
    for task, thresholds in (("classification", None), ("multilabel", [0.5, 0.5])):
        counts, confidence = predicted_counts(task, proba, ["a", "b"], thresholds)  # type: ignore[arg-type]
        assert counts.dtype == np.int64, task
        empty, none = predicted_counts(task, np.zeros((0, 2)), ["a", "b"], thresholds)  # type: ignore[arg-type]
        assert empty.shape == (0, 2) and none is not None and none.shape == (0,)
    no_labels, confidence = predicted_counts("classification", np.zeros((2, 0)), [])
    assert no_labels.shape == (2, 0) and confidence is not None and confidence.tolist() == [0.0, 0.0]
    spans, _ = predicted_counts("entities", [[Span(0, 1, "X")]], ["X"])
    assert spans.dtype == np.int64
    vectors, none = predicted_counts("embedding", np.ones((3, 4)), [])
    assert vectors.shape == (3, 0) and vectors.dtype == np.int64 and none is None


def test_tasks_join_outputs_of_one_part_is_that_part_and_of_none_an_error() -> None:
    part = np.ones((2, 2))
    assert join_outputs([part]) is part
    with pytest.raises(TaskError, match=r"^No outputs to join\. This is a bug in nlpops\.$"):
        join_outputs([])


def test_tasks_predicted_counts_per_task() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]])
    counts, confidence = predicted_counts("classification", proba, ["a", "b", "c"])
    assert counts.tolist() == [[1, 0, 0], [0, 1, 0]] and confidence is not None and confidence.tolist() == [0.7, 0.5]
    counts, _ = predicted_counts("multilabel", proba, ["a", "b", "c"], [0.5, 0.2, 0.4])
    assert counts.tolist() == [[1, 1, 0], [0, 1, 1]]
    spans = [[Span(0, 2, "PER"), Span(3, 5, "PER"), Span(6, 7, "LOC")], []]
    counts, confidence = predicted_counts("entities", spans, ["LOC", "PER"])
    assert counts.tolist() == [[1, 2], [0, 0]] and confidence is None
    with pytest.raises(TaskError, match="thresholds"):
        predicted_counts("multilabel", proba, ["a", "b", "c"])


def test_tasks_join_outputs_keeps_order_for_arrays_and_span_lists() -> None:
    assert join_outputs([np.ones((1, 2)), np.zeros((2, 2))]).tolist() == [[1, 1], [0, 0], [0, 0]]  # type: ignore[union-attr]
    assert join_outputs([[[Span(0, 1, "A")]], [[], [Span(1, 2, "B")]]]) == [[Span(0, 1, "A")], [], [Span(1, 2, "B")]]


def test_tasks_bundles_written_before_tasks_load_as_classification() -> None:
    bundle = load_bundle(FIXTURE)
    assert "task" not in json.loads((FIXTURE / "nlpops-bundle.json").read_text(encoding="utf-8"))
    assert bundle.manifest.task == "classification" and bundle.manifest.thresholds == {}
    predictor = load_predictor(FIXTURE)
    assert predictor.task == "classification" and predictor.thresholds is None
    texts = ["my card has not arrived"]
    assert np.array_equal(np.asarray(predict_output(predictor, texts)), predictor.predict_proba(texts))
    with pytest.raises(TaskError, match="is a classification model; it makes no entity predictions"):
        predictor.predict_entities(texts)
    with pytest.raises(TaskError, match="no embedding predictions"):
        predictor.embed(texts)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"task": "sentiment"}, "task"),
        ({"task": "multilabel"}, "one threshold per label"),
        ({"thresholds": {"card": 0.5}}, "thresholds are for multilabel bundles"),
    ],
)
def test_tasks_manifest_task_and_thresholds_are_validated(
    tmp_path: Path, changes: dict[str, object], fragment: str
) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(FIXTURE, copy)
    manifest = json.loads((copy / "nlpops-bundle.json").read_text(encoding="utf-8"))
    manifest.update(changes)
    (copy / "nlpops-bundle.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match=fragment):
        load_bundle(copy)


def test_tasks_spec_table_names_what_each_layer_needs() -> None:
    assert TASKS["multilabel"].endpoint == TASKS["classification"].endpoint == "/v1/classify"
    assert TASKS["entities"].default_family == "spacy" and not TASKS["entities"].preprocessing
    assert [s.name for s in TASKS["multilabel"].drift_statistics] == [
        "length",
        "confidence",
        "label",
        "cardinality",
        "label_rate",
        "oov",
    ]
