"""Batch inference with an embedding model: a fixed-size float32 list column in Parquet, JSON lists in CSV and
JSON lines (the in-process vectors in every format), and a run killed with SIGKILL three times resumes to the
uninterrupted output, every row exactly once."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from batch_support import cli_command, kill_three_times_then_resume, read_csv_rows, write_input_csv

from nlpops.batch import BatchOptions, run_batch
from nlpops.bundle import Bundle
from nlpops.errors import ConfigError
from nlpops.runtimes import load_predictor
from nlpops.testing import tiny_embedding_bundle

N_ROWS = 4_000
CHUNK_ROWS = 100
TOTAL_CHUNKS = N_ROWS // CHUNK_ROWS


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return tiny_embedding_bundle(tmp_path_factory.mktemp("emb") / "bundle")


def test_batch_embedding_writes_the_vectors_in_every_format(encoder: Bundle, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = write_input_csv(tmp_path / "in.csv", 70, empty_every=25)
    texts = [r["text"] for r in read_csv_rows(source) if r["text"]]
    expected = load_predictor(encoder.path).embed(texts)
    outputs = {}
    for suffix in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"out.{suffix}"
        result = run_batch(encoder.path, BatchOptions(source, out, id_column="id", workers=0, chunk_rows=16))
        assert (result.read, result.written, result.rejected) == (70, 68, 2)
        outputs[suffix] = out
    table = pq.read_table(outputs["parquet"])
    assert table.schema.field("vector").type == pa.list_(pa.float32(), 32)
    assert table.column_names == ["id", "vector"]
    parquet = np.asarray(table.column("vector").to_pylist(), dtype=np.float32)
    csv_rows = read_csv_rows(outputs["csv"])
    assert list(csv_rows[0]) == ["id", "vector"]
    in_csv = np.asarray([json.loads(r["vector"]) for r in csv_rows], dtype=np.float32)
    lines = [json.loads(line) for line in outputs["jsonl"].read_text(encoding="utf-8").splitlines()]
    in_jsonl = np.asarray([r["vector"] for r in lines], dtype=np.float32)
    for written in (parquet, in_csv, in_jsonl):
        assert written.shape == expected.shape and np.abs(written - expected).max() < 1e-5
    assert np.array_equal(parquet, in_csv) and np.array_equal(in_csv, in_jsonl)  # float32 numbers round-trip exactly
    assert [r["id"] for r in lines] == [r["id"] for r in csv_rows] == table.column("id").to_pylist()


def test_batch_embedding_empty_input_writes_the_fixed_size_schema(encoder: Bundle, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = tmp_path / "in.csv"
    source.write_text("id,text\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    run_batch(encoder.path, BatchOptions(source, out, id_column="id", workers=0))
    table = pq.read_table(out)
    assert table.num_rows == 0 and table.schema.field("vector").type == pa.list_(pa.float32(), 32)


def test_batch_embedding_on_the_ray_engine_is_refused_in_one_line(encoder: Bundle, tmp_path: Path) -> None:
    source = write_input_csv(tmp_path / "in.csv", 5)
    with pytest.raises(ConfigError, match=r"embedding model\. Use the local engine") as refused:
        run_batch(encoder.path, BatchOptions(source, tmp_path / "out.csv", engine="ray"))
    assert "\n" not in str(refused.value)


@pytest.mark.slow
def test_batch_embedding_sigkill_three_times_then_resume_equals_uninterrupted(encoder: Bundle, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    source = write_input_csv(tmp_path / "in.csv", N_ROWS, empty_every=397)

    def args(out: Path) -> list[str]:
        return [
            "batch", str(encoder.path), "--input", str(source), "--output", str(out), "--id-column", "id",
            "--workers", "2", "--chunk-rows", str(CHUNK_ROWS), "--batch-size", "64", "--quiet", "--json",
        ]  # fmt: skip

    reference = tmp_path / "reference.parquet"
    subprocess.run(cli_command(*args(reference)), check=True, capture_output=True)
    out = tmp_path / "out.parquet"
    checkpoint = tmp_path / ".out.parquet.nlpops-batch" / "checkpoint.json"
    result = kill_three_times_then_resume(args(out), checkpoint, TOTAL_CHUNKS)
    rejected = N_ROWS // 397
    assert result["resumed_chunks"] > 0
    assert (result["read"], result["written"], result["rejected"]) == (N_ROWS, N_ROWS - rejected, rejected)
    table, expected = pq.read_table(out), pq.read_table(reference)
    ids = table.column("id").to_pylist()
    assert len(ids) == N_ROWS - rejected and max(Counter(ids).values()) == 1
    assert table.equals(expected)  # the same rows, in order, with the same vectors
    assert not checkpoint.parent.exists()
