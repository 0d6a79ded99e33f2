"""spaCy, transformer (torch) and ONNX encoder bundles served by ``nlpops serve`` answer as they predict in process."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest

from nlpops.bundle import Bundle
from nlpops.runtimes import load_predictor
from nlpops.testing import tiny_dataset
from nlpops.testing.conformance import tiny_spacy_bundle

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_support import cli_server

TEXTS = [*tiny_dataset().texts, "a completely new sentence", "card", "fee " * 30]


@pytest.fixture(scope="module")
def spacy_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return tiny_spacy_bundle(tmp_path_factory.mktemp("spacy-serve") / "bundle")


@pytest.mark.slow
@pytest.mark.parametrize("which", ["spacy_bundle", "torch_bundle", "onnx_encoder_bundle"])
def test_served_answers_equal_in_process_predictions(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    bundle: Bundle = request.getfixturevalue(which)
    expected = load_predictor(bundle).predict_proba(TEXTS)
    labels = bundle.manifest.labels
    with cli_server([str(bundle.path)], dict(os.environ), tmp_path / "serve.log") as url:
        answer = httpx.post(f"{url}/v1/classify", json={"texts": TEXTS, "return_scores": True}, timeout=60).json()
    predictions = answer["predictions"]
    assert len(predictions) == len(TEXTS)
    for row, prediction in enumerate(predictions):
        assert prediction["label"] == labels[int(expected[row].argmax())]
        for i, label in enumerate(labels):
            assert prediction["scores"][label] == pytest.approx(float(expected[row, i]), abs=1e-5)
