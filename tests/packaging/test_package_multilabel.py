"""Multi-label models package as ``multilabel`` bundles: a Hugging Face classifier with ``problem_type:
multi_label_classification`` (sigmoid per label), a spaCy ``textcat_multilabel`` trained with ``spacy train``, and a
scikit-learn ``OneVsRestClassifier`` pipeline saved with skops. Each answers like its own library (within 1e-5),
gets a threshold per label (0.5, the libraries' own rule), and is served by /v1/classify like a trained multi-label
model: every label above its threshold."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

import nlpops
from nlpops.batch import BatchOptions, run_batch
from nlpops.data import Dataset, bundled_dataset, read_dataset
from nlpops.errors import PackageError
from nlpops.packaging import PARITY_ATOL, SOURCE_THRESHOLD
from nlpops.runtimes import load_predictor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_support import live_server, make_app


def _xed(split: str, rows: int) -> Dataset:
    """``rows`` XED multi-label rows spread over the file (it is sorted by first label)."""
    data = read_dataset(bundled_dataset("xed_multilabel", split))
    return data.subset(np.linspace(0, len(data) - 1, rows).round().astype(int).tolist())


@pytest.fixture(scope="module")
def xed_train() -> Dataset:
    return _xed("train", 240)


@pytest.fixture(scope="module")
def xed_test() -> Dataset:
    return _xed("test", 60)


@pytest.fixture(scope="module")
def hf_multilabel(tmp_path_factory: pytest.TempPathFactory, xed_train: Dataset) -> Path:
    from nlpops.testing.sources import tiny_hf_classifier_folder

    folder = tmp_path_factory.mktemp("hf-ml") / "emotions"
    return tiny_hf_classifier_folder(folder, xed_train.label_names(), multilabel=True)


@pytest.fixture(scope="module")
def hf_multilabel_bundle(hf_multilabel: Path, tmp_path_factory: pytest.TempPathFactory, xed_train, xed_test):
    out = tmp_path_factory.mktemp("hf-ml-bundle") / "b"
    return nlpops.package(hf_multilabel, name="emotions", out=out, data=xed_train, test=xed_test).bundle


def _assert_multilabel_bundle(bundle, labels: list[str]) -> None:
    manifest = bundle.manifest
    assert manifest.task == "multilabel"
    assert manifest.labels == labels
    assert manifest.thresholds == dict.fromkeys(labels, SOURCE_THRESHOLD)
    assert "cardinality_hist" in manifest.reference  # multi-label drift statistics


def _assert_served_like_a_multilabel_model(bundle, texts: list[str], tmp_path: Path) -> list[list[str]]:
    """/v1/classify answers every label reaching its threshold, most probable first, as the predictor does;
    nlpops batch writes the same label lists."""
    predictor = load_predictor(bundle.path)
    proba = predictor.predict_proba(texts)
    with live_server(make_app(bundle.path)) as url:
        answer = httpx.post(f"{url}/v1/classify", json={"texts": texts, "return_scores": True}, timeout=60).json()
        models = httpx.get(f"{url}/v1/models", timeout=60).json()
    assert models["models"][0]["task"] == "multilabel"
    served = [[(x["label"], x["score"]) for x in p["labels"]] for p in answer["predictions"]]
    assert served == predictor.predict_labels(texts)
    above = [{label for label, p in zip(predictor.labels, row, strict=True) if p >= SOURCE_THRESHOLD} for row in proba]
    assert [{label for label, _ in row} for row in served] == above
    scores = np.array([[p["scores"][label] for label in predictor.labels] for p in answer["predictions"]])
    np.testing.assert_allclose(scores, proba, atol=1e-12, rtol=0)
    source, out = tmp_path / "in.csv", tmp_path / "out.jsonl"
    with source.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["text"], *([t] for t in texts)])
    run_batch(bundle.path, BatchOptions(source, out, workers=0))
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["labels"] for r in rows] == [[label for label, _ in row] for row in served]
    for row, expected in zip(rows, served, strict=True):  # the score of each label written, in the same order
        np.testing.assert_allclose(row["scores"], [score for _, score in expected], atol=1e-12, rtol=0)
    return [[label for label, _ in row] for row in served]


def test_package_multilabel_hugging_face_classifier_sigmoid_per_label(
    hf_multilabel: Path, hf_multilabel_bundle, xed_test: Dataset, tmp_path: Path
) -> None:
    import transformers

    bundle = hf_multilabel_bundle
    labels = read_dataset(bundled_dataset("xed_multilabel", "test")).label_names()
    _assert_multilabel_bundle(bundle, labels)
    assert bundle.manifest.runtime_options["activation"] == "sigmoid"
    texts = xed_test.texts[:32]
    classify = transformers.pipeline("text-classification", model=str(hf_multilabel), top_k=None, device="cpu")
    library = np.array([[{a["label"]: a["score"] for a in row}[label] for label in labels] for row in classify(texts)])
    got = load_predictor(bundle.path).predict_proba(texts)
    np.testing.assert_allclose(got, library, atol=PARITY_ATOL, rtol=0)
    assert not np.allclose(got.sum(axis=1), 1.0)  # independent probabilities, not a softmax
    served = _assert_served_like_a_multilabel_model(bundle, texts, tmp_path)
    assert any(len(row) > 1 for row in served) and any(len(row) < len(labels) for row in served)


def test_package_multilabel_hugging_face_records_metrics_of_its_task(hf_multilabel_bundle) -> None:
    metrics = hf_multilabel_bundle.manifest.metrics
    assert "macro_f1" in metrics and "test_fingerprint" in metrics
    assert hf_multilabel_bundle.manifest.package["thresholds"].startswith(f"{SOURCE_THRESHOLD} for every label")


def test_export_packaged_multilabel_classifier_keeps_its_sigmoid(hf_multilabel_bundle, tmp_path: Path) -> None:
    from nlpops.export import export_bundle

    bundle = export_bundle(hf_multilabel_bundle, tmp_path / "onnx").bundle
    assert bundle.manifest.task == "multilabel" and bundle.manifest.runtime_options["activation"] == "sigmoid"
    texts = ["I am so angry and scared", "what a lovely surprise", "ok"]
    np.testing.assert_allclose(
        load_predictor(bundle.path).predict_proba(texts),
        load_predictor(hf_multilabel_bundle.path).predict_proba(texts),
        atol=1e-4,
        rtol=0,
    )


def test_package_spacy_textcat_multilabel(tmp_path: Path, xed_train: Dataset, xed_test: Dataset) -> None:
    import spacy

    from nlpops.testing.sources import spacy_textcat_folder

    folder = spacy_textcat_folder(tmp_path / "spacy", xed_train, xed_test, max_steps=20)
    bundle = nlpops.package(folder, name="emotions-spacy", out=tmp_path / "b", data=xed_train).bundle
    _assert_multilabel_bundle(bundle, xed_train.label_names())
    texts = xed_test.texts[:32]
    nlp = spacy.load(folder)
    library = np.array([[doc.cats[label] for label in bundle.manifest.labels] for doc in nlp.pipe(texts)])
    got = load_predictor(bundle.path).predict_proba(texts)
    np.testing.assert_allclose(got, library, atol=PARITY_ATOL, rtol=0)
    assert not np.allclose(got.sum(axis=1), 1.0)  # kept as spaCy scores them, not renormalised
    _assert_served_like_a_multilabel_model(bundle, texts, tmp_path)


def test_package_sklearn_one_vs_rest_with_labels_file(tmp_path: Path, xed_train: Dataset, xed_test: Dataset) -> None:
    import skops.io as sio

    from nlpops.testing.sources import multilabel_text_pipeline

    pipeline, labels = multilabel_text_pipeline(xed_train)
    path = tmp_path / "emotions.skops"
    sio.dump(pipeline, path)
    with pytest.raises(PackageError, match="multi-label classifier whose 8 outputs have no names: pass --labels"):
        nlpops.package(path, name="emotions", out=tmp_path / "refused")
    (tmp_path / "labels.txt").write_text("\n".join(labels[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(PackageError, match="has 8 outputs but the labels file names 7 labels"):
        nlpops.package(path, name="emotions", out=tmp_path / "refused", labels=tmp_path / "labels.txt")
    (tmp_path / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    result = nlpops.package(
        path, name="emotions", out=tmp_path / "b", labels=tmp_path / "labels.txt", data=xed_train, test=xed_test
    )
    bundle = result.bundle
    _assert_multilabel_bundle(bundle, labels)
    assert "pipeline.json" in bundle.manifest.files and "model.skops" not in bundle.manifest.files  # declared
    texts = xed_test.texts
    np.testing.assert_allclose(
        load_predictor(bundle.path).predict_proba(texts), pipeline.predict_proba(texts), atol=PARITY_ATOL, rtol=0
    )
    assert bundle.manifest.metrics["macro_f1"] > 0
    _assert_served_like_a_multilabel_model(bundle, texts[:32], tmp_path)


RETRAIN = {
    "name": "emotions",
    "retraining": {"min_macro_f1": 0.0, "max_regression": 1.0, "max_latency_regression": 100.0},
}


def _retrained(source: Path, tmp_path: Path, train: Dataset, test: Dataset, **options):
    """Package ``source``, register and promote it, run ``nlpops retrain`` on more data: (champion, challenger)."""
    from nlpops.checklist import NlpopsConfig, RegistrySettings
    from nlpops.registry import open_registry
    from nlpops.retrain import retrain

    registry = open_registry(RegistrySettings(home=tmp_path / "home"))
    champion = nlpops.package(source, name="emotions", out=tmp_path / "champion", data=train, **options).bundle
    registry.promote("emotions", registry.register(champion.path, "emotions").version, "production")
    config = NlpopsConfig.model_validate(RETRAIN)
    report = retrain(config, _xed("train", 400), registry, test=test, out_dir=tmp_path / "models")
    challenger = load_predictor(registry.get("emotions", report.challenger.version).bundle_path)
    assert [g.name for g in report.gates][:2] == ["min_macro_f1", "max_regression"]
    assert challenger.task == "multilabel" and challenger.labels == champion.manifest.labels
    assert challenger.thresholds == [SOURCE_THRESHOLD] * len(challenger.labels)
    assert challenger.manifest.package["retrained_from"]["version"] == champion.manifest.version
    before = load_predictor(champion.path).predict_proba(test.texts)
    assert not np.allclose(before, challenger.predict_proba(test.texts), atol=1e-6)
    return champion, challenger


def test_retrain_packaged_multilabel_hugging_face_fine_tunes_with_label_sets(
    hf_multilabel: Path, tmp_path: Path, xed_train: Dataset, xed_test: Dataset
) -> None:
    _, challenger = _retrained(hf_multilabel, tmp_path, xed_train, xed_test)
    assert challenger.manifest.runtime_options["activation"] == "sigmoid"


def test_retrain_packaged_multilabel_sklearn_refits_one_vs_rest(
    tmp_path: Path, xed_train: Dataset, xed_test: Dataset
) -> None:
    import skops.io as sio

    from nlpops.testing.sources import multilabel_text_pipeline

    pipeline, labels = multilabel_text_pipeline(xed_train)
    sio.dump(pipeline, tmp_path / "emotions.skops")
    (tmp_path / "labels.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    _, challenger = _retrained(
        tmp_path / "emotions.skops", tmp_path, xed_train, xed_test, labels=tmp_path / "labels.txt"
    )
    assert "pipeline.json" in challenger.manifest.files
