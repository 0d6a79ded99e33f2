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


def test_export_tfidf_keeps_the_word_vocabulary_for_oov_counts(word_tfidf_bundle: Bundle, tmp_path: Path) -> None:
    result = export_bundle(word_tfidf_bundle, tmp_path / "onnx")
    assert result.bundle.manifest.runtime_options["vocabulary_file"] == "words.json"
    exported, native = load_predictor(result.bundle), load_predictor(word_tfidf_bundle)
    assert exported.vocabulary() == native.vocabulary() and "card" in (exported.vocabulary() or ())


# Spacing, case, punctuation, accents, emoji, one-letter words: char_wb pads and splits words exactly so.
AWKWARD = ["  my   card\thas NOT arrived ", "a b c d", "Café-crème, s'il vous plaît!", "top up 😀😀 now", "x"]


def test_export_default_tfidf_with_char_wb_matches_sklearn(tiny_bundle: Bundle, tmp_path: Path) -> None:
    assert tiny_bundle.manifest.config["model"]["tfidf"]["char_ngrams"] is True  # the family's default
    result = export_bundle(tiny_bundle, tmp_path / "onnx")
    assert result.bundle.manifest.runtime_options["text_transform"] == "char_wb_pad.v1"
    texts = [*tiny_bundle.manifest.reference["texts"], *REPEATS, *AWKWARD]
    np.testing.assert_allclose(
        load_predictor(result.bundle).predict_proba(texts), load_predictor(tiny_bundle).predict_proba(texts), atol=1e-5
    )


def test_export_refuses_char_analyzer() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    from nlpops.export.sklearn import check_convertible

    pipeline = Pipeline([("chars", TfidfVectorizer(analyzer="char")), ("clf", LogisticRegression())])
    with pytest.raises(ExportError, match=r'chars: analyzer="char" has no exact ONNX converter'):
        check_convertible(pipeline)


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
    config = NlpopsConfig.model_validate({"name": "b77"})  # the default: word 1-2 + char_wb 2-4 n-grams
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
