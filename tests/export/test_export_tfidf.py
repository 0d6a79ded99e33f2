"""TF-IDF bundles export to ONNX with the same answers; what cannot be converted is refused clearly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nlpops.bundle import MANIFEST_NAME, Bundle, load_bundle
from nlpops.checklist import NlpopsConfig
from nlpops.data import bundled_dataset, read_dataset
from nlpops.errors import ExportError
from nlpops.export import export_bundle
from nlpops.families import build_bundle
from nlpops.runtimes import load_predictor
from nlpops.runtimes.onnx import OnnxPredictor

# Texts that repeat words, so sublinear term frequencies (log(tf) + 1) are exercised.
REPEATS = ["card card card not arrived", "fee fee refund refund refund", "card fee", "unknown words only"]


def test_export_tfidf_matches_sklearn_probabilities(word_tfidf_bundle: Bundle, tmp_path: Path) -> None:
    result = export_bundle(word_tfidf_bundle, tmp_path / "onnx")
    exported = load_predictor(result.bundle)
    assert isinstance(exported, OnnxPredictor)
    texts = [*word_tfidf_bundle.manifest.reference["texts"], *REPEATS]
    np.testing.assert_allclose(
        exported.predict_proba(texts), load_predictor(word_tfidf_bundle).predict_proba(texts), atol=1e-5
    )


def test_export_tfidf_manifest_keeps_labels_and_records_parity(word_tfidf_bundle: Bundle, tmp_path: Path) -> None:
    result = export_bundle(word_tfidf_bundle, tmp_path / "onnx")
    manifest = load_bundle(result.bundle.path).manifest
    source = word_tfidf_bundle.manifest
    assert manifest.runtime == "onnx"
    assert (manifest.labels, manifest.preprocessing, manifest.metrics) == (
        source.labels,
        source.preprocessing,
        source.metrics,
    )
    assert manifest.reference == source.reference
    assert {r.split("==")[0] for r in manifest.requirements} == {"onnxruntime", "numpy"}
    export = manifest.model_extra["export"]  # type: ignore[index]
    assert export["parity"]["agreement"] == 1.0
    assert export["parity"]["texts"] == len(source.reference["texts"])
    assert export["forced"] is False


def test_export_refuses_char_wb_naming_the_option(tiny_bundle: Bundle, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r'analyzer="char_wb".*char_ngrams: false'):
        export_bundle(tiny_bundle, tmp_path / "onnx")
    assert not (tmp_path / "onnx").exists()


def test_export_refuses_failed_parity_unless_forced(word_tfidf_bundle: Bundle, tmp_path: Path) -> None:
    # A threshold no model can meet makes the parity check fail for real.
    with pytest.raises(ExportError, match=r"Parity check failed.*--force"):
        export_bundle(word_tfidf_bundle, tmp_path / "refused", max_disagreement=-0.01)
    assert not (tmp_path / "refused").exists()
    forced = export_bundle(word_tfidf_bundle, tmp_path / "forced", max_disagreement=-0.01, force=True)
    assert forced.bundle.manifest.model_extra["export"]["forced"] is True  # type: ignore[index]


def test_export_onnx_source_needs_quantize(word_tfidf_bundle: Bundle, tmp_path: Path) -> None:
    first = export_bundle(word_tfidf_bundle, tmp_path / "onnx")
    with pytest.raises(ExportError, match="already ONNX"):
        export_bundle(first.bundle, tmp_path / "again")


def test_export_int8_of_tfidf_keeps_labels(word_tfidf_bundle: Bundle, tmp_path: Path) -> None:
    result = export_bundle(word_tfidf_bundle, tmp_path / "int8", quantize="int8")
    assert result.bundle.manifest.runtime_options["quantized"] == "int8"
    assert result.parity.agreement >= 0.995


def test_export_refuses_existing_out_and_source_itself(word_tfidf_bundle: Bundle, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(Exception, match="already exists"):
        export_bundle(word_tfidf_bundle, tmp_path / "taken")
    copy = tmp_path / "copy"
    shutil.copytree(word_tfidf_bundle.path, copy)
    with pytest.raises(ExportError, match="source bundle itself"):
        export_bundle(copy, copy)
    assert json.loads((copy / MANIFEST_NAME).read_text())["runtime"] == "sklearn"


@pytest.mark.slow
def test_export_tfidf_banking77_agreement_and_macro_f1(tmp_path: Path) -> None:
    from nlpops.metrics import classification_report

    train = read_dataset(bundled_dataset("banking77", "train"))
    test = read_dataset(bundled_dataset("banking77", "test"))
    config = NlpopsConfig.model_validate({"name": "b77", "model": {"tfidf": {"char_ngrams": False}}})
    bundle = build_bundle(config, train, test, tmp_path / "sk", name="b77")
    exported = export_bundle(bundle, tmp_path / "onnx").bundle
    sk = load_predictor(bundle).predict_proba(test.texts)
    ox = load_predictor(exported).predict_proba(test.texts)
    agreement = float((sk.argmax(1) == ox.argmax(1)).mean())
    labels = bundle.manifest.labels
    f1_sk = classification_report(test.labels, [labels[i] for i in sk.argmax(1)], labels)["macro_f1"]
    f1_ox = classification_report(test.labels, [labels[i] for i in ox.argmax(1)], labels)["macro_f1"]
    assert agreement >= 0.995
    assert abs(f1_sk - f1_ox) <= 0.005
