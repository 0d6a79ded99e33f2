"""The torch and spaCy runtimes pass the conformance checks and agree with their ONNX exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlpops.bundle import Bundle
from nlpops.runtimes import load_predictor
from nlpops.runtimes.spacy import SpacyPredictor
from nlpops.runtimes.torch import TorchPredictor
from nlpops.testing import tiny_dataset
from nlpops.testing.conformance import check_predictor, tiny_spacy_bundle


def test_torch_predictor_conformance_and_onnx_parity(torch_bundle: Bundle, onnx_encoder_bundle: Bundle) -> None:
    texts = tiny_dataset().texts
    torch_p = load_predictor(torch_bundle)
    assert isinstance(torch_p, TorchPredictor)
    proba = check_predictor(torch_p, texts)
    np.testing.assert_allclose(load_predictor(onnx_encoder_bundle).predict_proba(texts), proba, atol=1e-4)
    assert torch_p.text_lengths(["card"]) == [3]


@pytest.fixture(scope="module")
def spacy_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return tiny_spacy_bundle(tmp_path_factory.mktemp("spacy") / "bundle")


def test_spacy_predictor_conformance(spacy_bundle: Bundle) -> None:
    predictor = load_predictor(spacy_bundle)
    assert isinstance(predictor, SpacyPredictor)
    check_predictor(predictor, tiny_dataset().texts)
    assert predictor.text_lengths(["my card is lost"]) == [4]


def test_spacy_export_is_refused_clearly(spacy_bundle: Bundle, tmp_path: Path) -> None:
    from nlpops.errors import ExportError
    from nlpops.export import export_bundle

    with pytest.raises(ExportError, match="no ONNX export"):
        export_bundle(spacy_bundle, tmp_path / "onnx")
