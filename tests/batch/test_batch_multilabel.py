"""Batch inference with a multi-label model: the label list (and their scores) per row, in every format, and a
run killed with SIGKILL three times resumes to the uninterrupted output, every row exactly once."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from batch_support import cli_command, kill_three_times_then_resume, read_csv_rows, write_input_csv

from nlpops.batch import BatchOptions, run_batch
from nlpops.bundle import Bundle
from nlpops.runtimes import load_predictor
from nlpops.testing import tiny_multilabel_bundle

N_ROWS = 20_000
CHUNK_ROWS = 500
TOTAL_CHUNKS = N_ROWS // CHUNK_ROWS


@pytest.fixture(scope="module")
def multilabel_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return tiny_multilabel_bundle(tmp_path_factory.mktemp("ml") / "bundle")


def test_batch_multilabel_writes_the_label_lists_in_every_format(multilabel_bundle: Bundle, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = write_input_csv(tmp_path / "in.csv", 60, empty_every=25)
    predictor = load_predictor(multilabel_bundle.path)
    texts = [r["text"] for r in read_csv_rows(source) if r["text"]]
    expected = predictor.predict_labels(texts)
    outputs = {}
    for suffix in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"out.{suffix}"
        options = BatchOptions(source, out, id_column="id", workers=0, chunk_rows=16, all_scores=True)
        result = run_batch(multilabel_bundle.path, options)
        assert (result.read, result.written, result.rejected) == (60, 58, 2)
        outputs[suffix] = out
    csv_rows = read_csv_rows(outputs["csv"])
    assert list(csv_rows[0]) == ["id", "labels", "scores", *(f"score_{label}" for label in predictor.labels)]
    assert [json.loads(r["labels"]) for r in csv_rows] == [[x for x, _ in row] for row in expected]
    lines = [json.loads(line) for line in outputs["jsonl"].read_text(encoding="utf-8").splitlines()]
    assert [r["labels"] for r in lines] == [[x for x, _ in row] for row in expected]
    first = predictor.predict_proba(texts[:1])[0].tolist()
    assert lines[0]["scores"] == dict(zip(predictor.labels, first, strict=True))
    table = pq.read_table(outputs["parquet"])
    assert table.schema.field("labels").type == pa.list_(pa.string())
    assert table.schema.field("scores").type == pa.list_(pa.float64())
    assert table.column("labels").to_pylist() == [[x for x, _ in row] for row in expected]
    assert table.column("scores").to_pylist() == [[y for _, y in row] for row in expected]


@pytest.mark.slow
def test_batch_multilabel_sigkill_three_times_then_resume_equals_uninterrupted(
    multilabel_bundle: Bundle, tmp_path: Path
) -> None:
    source = write_input_csv(tmp_path / "in.csv", N_ROWS, empty_every=997)

    def args(out: Path) -> list[str]:
        return [
            "batch", str(multilabel_bundle.path), "--input", str(source), "--output", str(out), "--id-column", "id",
            "--workers", "2", "--chunk-rows", str(CHUNK_ROWS), "--batch-size", "128", "--quiet", "--json",
        ]  # fmt: skip

    reference = tmp_path / "reference.jsonl"
    subprocess.run(cli_command(*args(reference)), check=True, capture_output=True)
    out = tmp_path / "out.jsonl"
    checkpoint = tmp_path / ".out.jsonl.nlpops-batch" / "checkpoint.json"
    result = kill_three_times_then_resume(args(out), checkpoint, TOTAL_CHUNKS)
    rejected = N_ROWS // 997
    assert result["resumed_chunks"] > 0
    assert (result["read"], result["written"], result["rejected"]) == (N_ROWS, N_ROWS - rejected, rejected)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == N_ROWS - rejected and max(Counter(r["id"] for r in rows).values()) == 1
    assert all(isinstance(r["labels"], list) and len(r["labels"]) == len(r["scores"]) for r in rows)
    assert out.read_bytes() == reference.read_bytes()
    assert not checkpoint.parent.exists()
