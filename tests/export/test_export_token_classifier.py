"""A Hugging Face token classifier as an entity bundle: the torch runtime and its ONNX export answer the spans of
transformers' own ``pipeline("token-classification", aggregation_strategy="simple")``, served at /v1/entities."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from nlpops.bundle import Bundle, new_version, save_bundle
from nlpops.data import bundled_dataset, read_dataset
from nlpops.export import export_bundle
from nlpops.runtimes import load_predictor
from nlpops.runtimes.token_classifier import MODEL_DIR, token_classifier_options
from nlpops.runtimes.token_spans import entity_types
from nlpops.testing import check_entity_predictor
from nlpops.testing.entities import TOKEN_TAGS, tiny_hf_token_classifier_folder
from nlpops.testing.serving import live_server

transformers = pytest.importorskip("transformers")
pytest.importorskip("onnx")

TEXTS = [*read_dataset(bundled_dataset("wnut17", "test")).texts[:120], "Zoë flew to Paris 🙂 with Ünal", "x"]


def pipeline_spans(folder: Path, texts: list[str]) -> list[list[tuple[int, int, str, float]]]:
    """transformers' own aggregation: what the bundle must answer."""
    pipe = transformers.pipeline("token-classification", model=str(folder), aggregation_strategy="simple")
    return [[(e["start"], e["end"], e["entity_group"], float(e["score"])) for e in pipe(text)] for text in texts]


def token_classifier_bundle(folder: Path, out: Path) -> Bundle:
    """The folder as a torch entity bundle (what packaging a Hugging Face token classifier writes)."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    options = token_classifier_options(
        tags=TOKEN_TAGS, max_length=int(tokenizer.model_max_length), pad_id=int(tokenizer.pad_token_id)
    )
    fields: dict[str, Any] = {
        "name": "hf-ner",
        "version": new_version(),
        "family": "transformer",
        "runtime": "torch",
        "task": "entities",
        "labels": entity_types(TOKEN_TAGS),
        "languages": ["en"],
        "preprocessing": [],
        "reference": {"texts": TEXTS},
        "requirements": [],
        "runtime_options": options,
    }

    def write(directory: Path) -> None:
        model = directory / MODEL_DIR
        model.mkdir()
        for name in ("config.json", "model.safetensors", "tokenizer.json"):
            shutil.copy2(folder / name, model / name)

    return save_bundle(out, fields, write)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_hf_token_classifier_folder(tmp_path_factory.mktemp("hf-ner") / "model")


@pytest.fixture(scope="module")
def expected(folder: Path) -> list[list[tuple[int, int, str, float]]]:
    spans = pipeline_spans(folder, TEXTS)
    assert sum(len(s) for s in spans) > 60  # the random model finds many spans of every type: not vacuous
    assert {label for found in spans for _, _, label, _ in found} == {"LOC", "PER", "creative-work"}
    return spans


def _assert_same(got: list[list[Any]], expected: list[list[tuple[int, int, str, float]]], atol: float) -> None:
    assert [[(s.start, s.end, s.label) for s in found] for found in got] == [
        [(a, b, c) for a, b, c, _ in found] for found in expected
    ]
    for found, reference in zip(got, expected, strict=True):
        assert [s.score for s in found] == pytest.approx([score for *_, score in reference], abs=atol)


def test_token_classifier_torch_bundle_answers_the_pipeline_spans(folder: Path, expected: Any, tmp_path: Path) -> None:
    bundle = token_classifier_bundle(folder, tmp_path / "torch")
    predictor = load_predictor(bundle.path)
    assert predictor.labels == ["LOC", "PER", "creative-work"]
    _assert_same(predictor.predict_entities(TEXTS), expected, 1e-5)
    check_entity_predictor(predictor, TEXTS[:40])


def test_token_classifier_exports_to_onnx_with_parity_and_serves_the_pipeline_spans(
    folder: Path, expected: Any, tmp_path: Path
) -> None:
    source = token_classifier_bundle(folder, tmp_path / "torch")
    result = export_bundle(source, tmp_path / "onnx")
    manifest = result.bundle.manifest
    assert (manifest.runtime, manifest.task, manifest.runtime_options["kind"]) == (
        "onnx",
        "entities",
        "token_classifier",
    )
    assert result.parity.agreement == 1.0 and result.parity.texts == len(TEXTS)
    assert result.parity.max_abs_proba_diff < 1e-4
    assert not (result.bundle.path / MODEL_DIR).exists()  # one graph and the tokenizer: no PyTorch weights
    predictor = load_predictor(result.bundle.path)
    _assert_same(predictor.predict_entities(TEXTS), expected, 1e-4)
    code = (  # the exported bundle serves without PyTorch or transformers
        "import sys\n"
        "from nlpops.runtimes import load_predictor\n"
        f"spans = load_predictor({str(result.bundle.path)!r}).predict_entities({TEXTS[:8]!r})\n"
        "print(sum(map(len, spans)), 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert sum(map(len, expected[:8])) > 0
    assert out.stdout.split() == [str(sum(map(len, expected[:8]))), "False", "False"]
    check_entity_predictor(predictor, TEXTS[:40])

    from nlpops.checklist import MonitoringSettings, ServingSettings
    from nlpops.serve import build_app, bundle_source

    app = build_app(bundle_source(result.bundle.path), ServingSettings(), MonitoringSettings(), follow=False)
    with live_server(app) as url:
        answer = httpx.post(f"{url}/v1/entities", json={"texts": TEXTS[:64]}, timeout=60).json()
    served = [[(e["start"], e["end"], e["label"]) for e in p["entities"]] for p in answer["predictions"]]
    assert served == [[(a, b, c) for a, b, c, _ in found] for found in expected[:64]]
    scores = [e["score"] for p in answer["predictions"] for e in p["entities"]]
    assert scores == pytest.approx([score for found in expected[:64] for *_, score in found], abs=1e-4)
    for text, prediction in zip(TEXTS, answer["predictions"], strict=False):
        assert all(text[e["start"] : e["end"]] == e["text"] for e in prediction["entities"])


def test_token_classifier_bundle_refuses_tags_that_do_not_match(folder: Path, tmp_path: Path) -> None:
    from nlpops.errors import RuntimeLoadError

    bundle = token_classifier_bundle(folder, tmp_path / "torch")
    broken = tmp_path / "broken"
    fields = bundle.manifest.model_dump(
        mode="json", exclude={"files", "created_at", "schema_version", "manifest_sha256"}
    )
    fields["labels"] = ["LOC", "PER"]
    save_bundle(broken, fields, lambda d: shutil.copytree(bundle.path / MODEL_DIR, d / MODEL_DIR))
    with pytest.raises(RuntimeLoadError, match="the tags name the entity types"):
        load_predictor(broken)


def test_the_logits_check_refuses_a_graph_that_differs_from_pytorch(folder: Path, tmp_path: Path) -> None:
    """Sequence and token classifiers share one check: logits off by more than its tolerance stop the export."""
    from nlpops.errors import ExportError
    from nlpops.export.classifier import check_logits_graph
    from nlpops.export.token_classifier import export_token_classifier
    from nlpops.runtimes.token_classifier import load_token_classifier

    model, span_maker = load_token_classifier(token_classifier_bundle(folder, tmp_path / "torch"), device="cpu")
    graph = tmp_path / "model.onnx"
    export_token_classifier(model, span_maker, graph)  # passes the check with the model's own logits

    def shifted(ids: Any, mask: Any, types: Any) -> Any:
        return model.batch_logits(ids, mask, types) + 2e-3

    check_logits_graph(span_maker.tokenizer, span_maker.pad_id, graph, shifted, what="token classifier", atol=3e-3)
    with pytest.raises(
        ExportError, match=r"^The exported token classifier differs from PyTorch by 2\.0\de-03 \(> 0\.001\)"
    ):
        check_logits_graph(span_maker.tokenizer, span_maker.pad_id, graph, shifted, what="token classifier")
