"""The ONNX runtime: slim imports, token lengths, length-sorted batching, thread settings, conformance."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nlpops.bundle import Bundle
from nlpops.errors import RuntimeLoadError
from nlpops.runtimes import load_predictor
from nlpops.runtimes.onnx import THREADS_ENV, OnnxPredictor, length_sorted_batches
from nlpops.testing import tiny_dataset
from nlpops.testing.conformance import check_predictor

HEAVY = ("torch", "transformers", "sklearn", "spacy", "skl2onnx", "thinc")


def imported_after_predict(bundle: Path) -> list[str]:
    code = (
        "import json, sys\n"
        "from nlpops.runtimes import load_predictor\n"
        f"p = load_predictor({str(bundle)!r})\n"
        "p.predict(['my card has not arrived', 'refund please'])\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return list(json.loads(done.stdout))


@pytest.mark.parametrize("which", ["onnx_tfidf_bundle", "onnx_encoder_bundle"])
def test_onnx_predict_imports_no_heavy_framework(which: str, request: pytest.FixtureRequest) -> None:
    bundle: Bundle = request.getfixturevalue(which)
    modules = imported_after_predict(bundle.path)
    assert "onnxruntime" in modules
    assert [m for m in HEAVY if m in modules] == []


@pytest.mark.parametrize("which", ["onnx_tfidf_bundle", "onnx_encoder_bundle"])
def test_onnx_predictor_conformance(which: str, request: pytest.FixtureRequest) -> None:
    bundle: Bundle = request.getfixturevalue(which)
    check_predictor(load_predictor(bundle), tiny_dataset().texts)


def test_onnx_encoder_text_lengths_are_token_counts(onnx_encoder_bundle: Bundle) -> None:
    predictor = load_predictor(onnx_encoder_bundle)
    # [CLS] + tokens + [SEP]: "card" is one wordpiece, so "card card card" is 5 tokens.
    assert predictor.text_lengths(["card", "card card card"]) == [3, 5]


def test_onnx_encoder_length_sorting_keeps_answers(onnx_encoder_bundle: Bundle) -> None:
    texts = ["a", "a much longer text about a card that never arrived in the post", "refund", "fee " * 40]
    sorted_p = OnnxPredictor(onnx_encoder_bundle, sort_by_length=True)
    plain_p = OnnxPredictor(onnx_encoder_bundle, sort_by_length=False)
    sorted_p.batch_size = plain_p.batch_size = 2
    np.testing.assert_allclose(sorted_p.predict_proba(texts), plain_p.predict_proba(texts), atol=1e-5)


def test_length_sorted_batches_groups_longest_first() -> None:
    assert length_sorted_batches([3, 10, 1, 7], 2) == [[1, 3], [0, 2]]
    assert length_sorted_batches([3, 10, 1], 2, sort=False) == [[0, 1], [2]]


def test_onnx_threads_from_argument_and_environment(onnx_tfidf_bundle: Bundle, monkeypatch: pytest.MonkeyPatch) -> None:
    assert OnnxPredictor(onnx_tfidf_bundle, intra_op_threads=1).threads == 1
    monkeypatch.setenv(THREADS_ENV, "2")
    assert OnnxPredictor(onnx_tfidf_bundle).threads == 2
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(RuntimeLoadError, match=f"{THREADS_ENV} must be an integer"):
        OnnxPredictor(onnx_tfidf_bundle)


def test_onnx_corrupt_graph_is_a_clear_error(onnx_tfidf_bundle: Bundle, tmp_path: Path) -> None:
    from nlpops.bundle import load_bundle

    copy = tmp_path / "copy"
    shutil.copytree(onnx_tfidf_bundle.path, copy)
    (copy / "model.onnx").write_bytes(b"not a graph")
    bundle = load_bundle(copy, verify=False)
    with pytest.raises(RuntimeLoadError, match="onnxruntime cannot load"):
        OnnxPredictor(bundle)
