"""spaCy, transformer (torch) and ONNX encoder bundles served by ``nlpops serve`` answer as they predict in process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from nlpops.bundle import Bundle
from nlpops.runtimes import load_predictor
from nlpops.testing import tiny_dataset
from nlpops.testing.conformance import tiny_spacy_bundle

NLPOPS = str(Path(sys.executable).parent / "nlpops")
TEXTS = [*tiny_dataset().texts, "a completely new sentence", "card", "fee " * 30]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [NLPOPS, "serve", str(bundle.path), "--port", str(port)], stdout=out, stderr=out, env=dict(os.environ)
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "nlpops serve did not become ready"
            time.sleep(0.1)
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/classify", json={"texts": TEXTS, "return_scores": True}, timeout=60
        ).json()
    finally:
        process.terminate()
        process.wait(timeout=30)
    predictions = answer["predictions"]
    assert len(predictions) == len(TEXTS)
    for row, prediction in enumerate(predictions):
        assert prediction["label"] == labels[int(expected[row].argmax())]
        for i, label in enumerate(labels):
            assert prediction["scores"][label] == pytest.approx(float(expected[row, i]), abs=1e-5)
