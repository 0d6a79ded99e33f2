"""The Ray engine (Ray Data ``map_batches`` on a local Ray instance) gives the local engine's predictions."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_support import read_csv_rows, write_input_csv

from nlpops.batch import BatchOptions, run_batch
from nlpops.bundle import Bundle

pytest.importorskip("ray.data", reason='needs pip install "nlpops[ray]"')


@pytest.mark.slow
def test_batch_ray_engine_matches_local_engine(tiny_bundle: Bundle, tmp_path: Path) -> None:
    source = write_input_csv(tmp_path / "in.csv", 3000, empty_every=700)
    with source.open("ab") as fh:
        fh.write(b"bad-bytes,caf\xe9 refund\n")
    local = tmp_path / "local.csv"
    on_ray = tmp_path / "ray.csv"
    expected = run_batch(tiny_bundle.path, BatchOptions(source, local, id_column="id", workers=0, chunk_rows=1000))
    result = run_batch(
        tiny_bundle.path,
        BatchOptions(source, on_ray, id_column="id", workers=2, batch_size=200, chunk_rows=1000, engine="ray"),
    )
    assert (result.read, result.written, result.rejected) == (expected.read, expected.written, expected.rejected)
    assert (result.read, result.rejected) == (3001, 5)
    ray_rows, local_rows = read_csv_rows(on_ray), read_csv_rows(local)
    assert [r["id"] for r in ray_rows] == [r["id"] for r in local_rows]
    assert [r["label"] for r in ray_rows] == [r["label"] for r in local_rows]
    for a, b in zip(ray_rows, local_rows, strict=True):
        assert float(a["score"]) == pytest.approx(float(b["score"]), rel=1e-9)
    assert read_csv_rows(tmp_path / "ray.rejects.csv") == read_csv_rows(tmp_path / "local.rejects.csv")
    assert not (tmp_path / ".ray.csv.nlpops-batch").exists()
