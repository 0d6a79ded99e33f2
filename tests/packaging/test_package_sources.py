"""Each kind of source packages into a bundle that answers what the source library answers (within 1e-5)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from package_support import library_proba

import nlpops
from nlpops.bundle import load_bundle, sha256_file
from nlpops.data import Dataset
from nlpops.packaging import NO_REFERENCE, PARITY_ATOL, PROBE_TEXTS
from nlpops.runtimes import load_predictor
from nlpops.testing import check_predictor

# source fixture -> (package.source.kind, runtime, family)
EXPECTED = {
    "hf_tiny_folder": ("huggingface", "torch", "transformer"),
    "spacy_folder": ("spacy", "spacy", "spacy"),
    "skops_file": ("skops", "sklearn", "tfidf"),
    "joblib_file": ("pickle", "sklearn", "tfidf"),
    "onnx_token_folder": ("onnx", "onnx", "transformer"),
    "onnx_sklearn_file": ("onnx", "onnx", "tfidf"),
}


def _source_for_library(fixture: str, request: pytest.FixtureRequest) -> object:
    if fixture in ("skops_file", "joblib_file"):
        return request.getfixturevalue("sklearn_pipeline")
    return request.getfixturevalue(fixture)


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_package_source_answers_like_its_library(
    fixture: str, packaged, request: pytest.FixtureRequest, intents_test: Dataset
) -> None:
    result = packaged(fixture)
    bundle = load_bundle(result.bundle.path)  # verifies every checksum
    manifest = bundle.manifest
    kind, runtime, family = EXPECTED[fixture]
    assert (manifest.package["source"]["kind"], manifest.runtime, manifest.family) == (kind, runtime, family)
    assert sorted(manifest.labels) == sorted(["card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed"])
    assert manifest.preprocessing == []
    assert manifest.requirements and all("==" in r for r in manifest.requirements)
    assert all(sha256_file(bundle.path / name) == digest for name, digest in manifest.files.items())
    pickles = (".pkl", ".pickle", ".joblib", "pytorch_model.bin")  # (spaCy's lookups.bin is msgpack)
    assert not [name for name in manifest.files if name.endswith(pickles)]
    predictor = load_predictor(bundle)
    texts = intents_test.texts
    proba = check_predictor(predictor, texts)
    expected = library_proba(fixture, _source_for_library(fixture, request), texts, predictor.labels)
    np.testing.assert_allclose(proba, expected, atol=PARITY_ATOL, rtol=0)
    parity = manifest.package["parity"]
    assert parity["max_abs_diff"] <= PARITY_ATOL and parity["texts"] == 160 + len(PROBE_TEXTS)
    assert manifest.reference["rows"] == 160 and len(manifest.reference["texts"]) == 160
    assert sum(manifest.reference["label_counts"].values()) == 160
    assert manifest.package["notes"] == []


def test_package_sklearn_pipeline_is_stored_declared_not_pickled(packaged) -> None:
    for fixture in ("skops_file", "joblib_file"):
        files = set(packaged(fixture).bundle.manifest.files)
        assert files == {"pipeline.json", "pipeline.npz", "vocabulary.json"}


def test_package_without_data_says_so_and_checks_parity_on_probes(hf_tiny_folder: Path, tmp_path: Path) -> None:
    result = nlpops.package(hf_tiny_folder, name="probed", out=tmp_path / "b")
    manifest = result.bundle.manifest
    assert manifest.package["notes"] == [NO_REFERENCE]
    assert manifest.package["reference_data"] is None
    assert manifest.package["parity"]["on"] == "probe" and manifest.package["parity"]["texts"] == len(PROBE_TEXTS)
    assert "rows" not in manifest.reference and manifest.reference["texts"] == list(PROBE_TEXTS)
    assert result.report.max_abs_diff <= PARITY_ATOL


def test_package_with_test_set_records_metrics_computed_by_nlpops(
    skops_file: Path, tmp_path: Path, intents_test: Dataset, sklearn_pipeline
) -> None:
    result = nlpops.package(skops_file, name="scored", out=tmp_path / "b", test=intents_test)
    metrics = result.metrics
    predicted = [str(x) for x in sklearn_pipeline.predict(intents_test.texts)]
    accuracy = float(np.mean([p == t for p, t in zip(predicted, intents_test.labels, strict=True)]))
    assert metrics["rows"] == len(intents_test) and metrics["accuracy"] == pytest.approx(accuracy)
    assert "test_fingerprint" in metrics and "per_class" in metrics


def test_package_hf_pytorch_bin_is_converted_to_safetensors(hf_tiny_folder: Path, tmp_path: Path) -> None:
    import torch
    import transformers

    folder = tmp_path / "bin-model"
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(hf_tiny_folder))
    model.save_pretrained(str(folder))
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    transformers.AutoTokenizer.from_pretrained(str(hf_tiny_folder)).save_pretrained(str(folder))
    result = nlpops.package(folder, name="from-bin", out=tmp_path / "b")
    files = set(result.bundle.manifest.files)
    assert "model/model.safetensors" in files and not any(f.endswith(".bin") for f in files)
    assert result.bundle.manifest.package["source"]["weights"] == "pytorch_model.bin, converted to safetensors"


def test_package_hf_register_and_load_by_name(hf_tiny_folder: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = nlpops.package(hf_tiny_folder, name="intents-hf", register=True)
    assert result.bundle.path.resolve() == (tmp_path / "models" / "intents-hf").resolve()
    assert result.registered is not None and result.registered.version == 1
    predictor = nlpops.load("intents-hf:1")
    assert predictor.labels == result.bundle.manifest.labels


def test_package_onnx_graph_that_outputs_probabilities(
    hf_tiny_folder: Path, tmp_path: Path, intents_test: Dataset
) -> None:
    """A graph ending in a softmax (as some toolchains export): the scores are used as they are, not re-softmaxed."""
    import shutil
    import warnings

    import onnxruntime as ort
    import torch
    import transformers

    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(hf_tiny_folder)).eval()

    class Probabilities(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):  # type: ignore[no-untyped-def]
            return torch.softmax(self.model(input_ids=input_ids, attention_mask=attention_mask).logits, dim=-1)

    folder = tmp_path / "probs"
    folder.mkdir()
    ids = torch.tensor([[101, 2026, 4003, 102]])
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Probabilities(),
            (ids, torch.ones_like(ids)),
            str(folder / "model.onnx"),
            input_names=["input_ids", "attention_mask"],
            output_names=["probabilities"],
            dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "probabilities": {0: "b"}},
            opset_version=17,
            dynamo=False,
        )
    shutil.copy2(hf_tiny_folder / "tokenizer.json", folder / "tokenizer.json")
    labels = json.loads((hf_tiny_folder / "config.json").read_text())["id2label"]
    (folder / "labels.txt").write_text("\n".join(labels[str(i)] for i in range(len(labels))) + "\n")
    result = nlpops.package(folder, name="probs", out=tmp_path / "b")
    assert result.bundle.manifest.runtime_options["activation"] == "probabilities"
    assert result.bundle.manifest.package["source"]["scores"] == "probabilities"
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(hf_tiny_folder))
    batch = tokenizer(intents_test.texts, padding=True, return_tensors="np")
    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]})
    got = load_predictor(result.bundle).predict_proba(intents_test.texts)
    np.testing.assert_allclose(got, expected, atol=PARITY_ATOL, rtol=0)
