"""run_batch end to end: formats, order, ids, all scores, resume refusal, restart, worker processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from batch_support import banking_texts, read_csv_rows

from nlpops.batch import BatchOptions, run_batch
from nlpops.bundle import Bundle
from nlpops.errors import ConfigError, DataError
from nlpops.runtimes import load_predictor


def test_batch_csv_predictions_match_predictor_in_input_order(
    tiny_bundle: Bundle, make_input: Callable[..., Path], tmp_path: Path
) -> None:
    source = make_input(2500, empty_every=500)
    out = tmp_path / "out.csv"
    result = run_batch(tiny_bundle.path, BatchOptions(source, out, id_column="id", workers=0, chunk_rows=700))
    rows = read_csv_rows(out)
    texts = banking_texts()
    kept = [i for i in range(2500) if i % 500 != 499]
    assert [r["id"] for r in rows] == [f"id-{i}" for i in kept]
    expected = load_predictor(tiny_bundle.path).predict([texts[i % len(texts)] for i in kept])
    assert [r["label"] for r in rows] == [label for label, _ in expected]
    np.testing.assert_allclose([float(r["score"]) for r in rows], [s for _, s in expected], rtol=1e-12)
    assert (result.read, result.written, result.rejected) == (2500, 2495, 5)
    assert not (tmp_path / ".out.csv.nlpops-batch").exists()


def test_batch_formats_agree_and_all_scores(
    tiny_bundle: Bundle, make_input: Callable[..., Path], tmp_path: Path
) -> None:
    source = make_input(1200, empty_every=400)
    outputs = {}
    for fmt in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"out.{fmt}"
        run_batch(tiny_bundle.path, BatchOptions(source, out, workers=0, chunk_rows=500, all_scores=True))
        outputs[fmt] = out
    csv_rows = read_csv_rows(outputs["csv"])
    jsonl_rows = [json.loads(line) for line in outputs["jsonl"].read_text().splitlines()]
    table = pq.read_table(outputs["parquet"]).to_pylist()
    assert len(csv_rows) == len(jsonl_rows) == len(table) == 1197
    labels = load_predictor(tiny_bundle.path).labels
    for c, j, p in zip(csv_rows, jsonl_rows, table, strict=True):
        assert int(c["row"]) == j["row"] == p["row"]
        assert c["label"] == j["label"] == p["label"]
        assert float(c["score"]) == j["score"] == p["score"]
        for label in labels:
            assert float(c[f"score_{label}"]) == j["scores"][label] == p[f"score_{label}"]
        assert max(j["scores"].values()) == j["score"]
    rejects = read_csv_rows(tmp_path / "out.rejects.csv")
    assert [int(r["row"]) for r in rejects] == [400, 800, 1200]


def test_batch_workers_match_in_process(tiny_bundle: Bundle, make_input: Callable[..., Path], tmp_path: Path) -> None:
    source = make_input(6000, empty_every=1000)
    single = tmp_path / "single.jsonl"
    multi = tmp_path / "multi.jsonl"
    run_batch(tiny_bundle.path, BatchOptions(source, single, id_column="id", workers=0, chunk_rows=1000))
    result = run_batch(tiny_bundle.path, BatchOptions(source, multi, id_column="id", workers=2, chunk_rows=1000))
    assert multi.read_bytes() == single.read_bytes()
    assert (tmp_path / "multi.rejects.jsonl").read_bytes() == (tmp_path / "single.rejects.jsonl").read_bytes()
    assert (result.read, result.written, result.rejected, result.workers) == (6000, 5994, 6, 2)


def test_batch_refuses_to_resume_changed_input(
    tiny_bundle: Bundle, make_input: Callable[..., Path], tmp_path: Path
) -> None:
    from nlpops.batch.checkpoint import Checkpoint, ChunkStats

    source = make_input(300)
    out = tmp_path / "out.csv"
    options = BatchOptions(source, out, workers=0, chunk_rows=100)
    state = tmp_path / ".out.csv.nlpops-batch"
    state.mkdir()
    # a checkpoint left by an interrupted run over a different input
    old = Checkpoint({"input": {"size_bytes": 1}, "args": {}, "model": {}}, {0: ChunkStats(100, 100, 0, 10)})
    old.save(state / "checkpoint.json")
    with pytest.raises(DataError, match=r"Cannot resume.*size_bytes.*--restart"):
        run_batch(tiny_bundle.path, options)
    assert not out.exists()
    result = run_batch(tiny_bundle.path, BatchOptions(source, out, workers=0, chunk_rows=100, restart=True))
    assert (result.read, result.written, result.resumed_chunks) == (300, 300, 0)
    assert len(read_csv_rows(out)) == 300


def test_batch_refuses_resume_when_arguments_change(
    tiny_bundle: Bundle, make_input: Callable[..., Path], tmp_path: Path
) -> None:
    source = make_input(300)
    out = tmp_path / "out.csv"
    # simulate an interrupted run: commit one chunk, then keep the checkpoint
    from nlpops.batch.local_engine import _signature

    state = tmp_path / ".out.csv.nlpops-batch"
    state.mkdir()
    from nlpops.batch.checkpoint import Checkpoint

    Checkpoint(_signature(BatchOptions(source, out, chunk_rows=100), tiny_bundle.path)).save(state / "checkpoint.json")
    with pytest.raises(DataError, match=r"args\.chunk_rows: 100 -> 50"):
        run_batch(tiny_bundle.path, BatchOptions(source, out, workers=0, chunk_rows=50))
    with source.open("a", encoding="utf-8") as fh:
        fh.write("id-x,one more row\n")
    with pytest.raises(DataError, match=r"input\.size_bytes"):
        run_batch(tiny_bundle.path, BatchOptions(source, out, workers=0, chunk_rows=100))


def test_batch_invalid_options_listed_at_once(
    tiny_bundle: Bundle, make_input: Callable[..., Path], tmp_path: Path
) -> None:
    source = make_input(10)
    with pytest.raises(ConfigError, match=r"--workers.*-1.*--batch-size.*0"):
        run_batch(tiny_bundle.path, BatchOptions(source, tmp_path / "o.csv", workers=-1, batch_size=0))
    with pytest.raises(ConfigError, match="three different files"):
        run_batch(tiny_bundle.path, BatchOptions(source, source))
    with pytest.raises(DataError, match=r'unknown file type "?\.txt'):
        run_batch(tiny_bundle.path, BatchOptions(source, tmp_path / "o.txt"))


def test_batch_missing_column_is_one_clear_error(
    tiny_bundle: Bundle, make_input: Callable[..., Path], tmp_path: Path
) -> None:
    source = make_input(10)
    with pytest.raises(DataError, match=r'no column "body" \(columns: id, text\)\. Pass --text-column'):
        run_batch(tiny_bundle.path, BatchOptions(source, tmp_path / "o.csv", text_column="body", workers=0))
    assert not (tmp_path / ".o.csv.nlpops-batch").exists()


def test_batch_empty_input_writes_headers_only(tiny_bundle: Bundle, tmp_path: Path) -> None:
    source = tmp_path / "empty.csv"
    source.write_text("id,text\n", encoding="utf-8")
    result = run_batch(tiny_bundle.path, BatchOptions(source, tmp_path / "o.parquet", workers=0))
    assert (result.read, result.written, result.rejected) == (0, 0, 0)
    assert pq.read_table(tmp_path / "o.parquet").column_names == ["row", "label", "score"]
