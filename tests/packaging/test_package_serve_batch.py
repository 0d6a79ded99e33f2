"""Packaged models serve over HTTP and batch-predict with the answers of their own library (within 1e-5)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from package_support import library_proba

from nlpops.batch import BatchOptions, run_batch
from nlpops.data import Dataset
from nlpops.packaging import PARITY_ATOL

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_support import live_server, make_app

SOURCES = ["hf_tiny_folder", "spacy_folder", "skops_file", "joblib_file", "onnx_token_folder", "onnx_sklearn_file"]


def _library(fixture: str, request: pytest.FixtureRequest, texts: list[str], labels: list[str]) -> np.ndarray:
    source = request.getfixturevalue("sklearn_pipeline" if fixture in ("skops_file", "joblib_file") else fixture)
    return library_proba(fixture, source, texts, labels)


@pytest.mark.parametrize("fixture", SOURCES)
def test_packaged_model_serves_the_library_answers(
    fixture: str, packaged, request: pytest.FixtureRequest, intents_test: Dataset
) -> None:
    bundle = packaged(fixture).bundle
    texts = intents_test.texts[:24]
    with live_server(make_app(bundle.path)) as url:
        answer = httpx.post(f"{url}/v1/classify", json={"texts": texts, "return_scores": True}, timeout=60).json()
    labels = bundle.manifest.labels
    served = np.array([[p["scores"][label] for label in labels] for p in answer["predictions"]])
    np.testing.assert_allclose(served, _library(fixture, request, texts, labels), atol=PARITY_ATOL, rtol=0)
    assert [p["label"] for p in answer["predictions"]] == [labels[i] for i in served.argmax(axis=1)]


@pytest.mark.parametrize("fixture", SOURCES)
def test_packaged_model_batch_predicts_the_library_answers(
    fixture: str, packaged, request: pytest.FixtureRequest, intents_test: Dataset, tmp_path: Path
) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    bundle = packaged(fixture).bundle
    source = tmp_path / "in.csv"
    with source.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        writer.writerows([f"r{i}", text] for i, text in enumerate(intents_test.texts))
    options = BatchOptions(
        input_path=source, output_path=tmp_path / "out.parquet", id_column="id", all_scores=True, workers=1
    )
    result = run_batch(bundle.path, options)
    assert result.written == len(intents_test) and result.rejected == 0
    table = pq.read_table(tmp_path / "out.parquet").to_pydict()
    assert table["id"] == [f"r{i}" for i in range(len(intents_test))]
    labels = bundle.manifest.labels
    scores = np.array([table[f"score_{label}"] for label in labels]).T
    expected = _library(fixture, request, intents_test.texts, labels)
    np.testing.assert_allclose(scores, expected, atol=PARITY_ATOL, rtol=0)
