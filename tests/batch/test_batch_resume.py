"""Resumption: a run killed with SIGKILL at random points and started again gives the uninterrupted output."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from batch_support import cli_command, committed_chunks, kill_three_times_then_resume, read_csv_rows, write_input_csv

from nlpops.bundle import Bundle

N_ROWS = 40_000
CHUNK_ROWS = 1_000
TOTAL_CHUNKS = N_ROWS // CHUNK_ROWS


def _batch_args(bundle: Path, source: Path, out: Path) -> list[str]:
    return [
        "batch", str(bundle), "--input", str(source), "--output", str(out), "--id-column", "id",
        "--workers", "2", "--chunk-rows", str(CHUNK_ROWS), "--batch-size", "128", "--quiet", "--json",
    ]  # fmt: skip


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.mark.slow
def test_batch_sigkill_three_times_then_resume_equals_uninterrupted(tiny_bundle: Bundle, tmp_path: Path) -> None:
    source = write_input_csv(tmp_path / "in.csv", N_ROWS, empty_every=997)
    reference = tmp_path / "reference.csv"
    subprocess.run(cli_command(*_batch_args(tiny_bundle.path, source, reference)), check=True, capture_output=True)

    out = tmp_path / "out.csv"
    checkpoint = tmp_path / ".out.csv.nlpops-batch" / "checkpoint.json"
    result = kill_three_times_then_resume(_batch_args(tiny_bundle.path, source, out), checkpoint, TOTAL_CHUNKS)
    assert result["resumed_chunks"] > 0
    assert (result["read"], result["written"], result["rejected"]) == (N_ROWS, N_ROWS - 40, 40)

    rows = read_csv_rows(out)
    ids = Counter(r["id"] for r in rows)
    assert len(rows) == N_ROWS - 40 and max(ids.values()) == 1
    assert out.read_bytes() == reference.read_bytes()
    assert (tmp_path / "out.rejects.csv").read_bytes() == (tmp_path / "reference.rejects.csv").read_bytes()
    assert not checkpoint.parent.exists()


@pytest.mark.slow
def test_batch_resume_after_partial_run_skipscommitted_chunks(tiny_bundle: Bundle, tmp_path: Path) -> None:
    """A run stopped after some chunks (here: killed once they are committed) resumes; counts add up."""
    source = write_input_csv(tmp_path / "in.csv", 8_000, empty_every=1000)
    out = tmp_path / "out.jsonl"
    args = [
        "batch", str(tiny_bundle.path), "-i", str(source), "-o", str(out), "--workers", "0",
        "--chunk-rows", "500", "--quiet", "--json",
    ]  # fmt: skip
    checkpoint = tmp_path / ".out.jsonl.nlpops-batch" / "checkpoint.json"
    process = subprocess.Popen(cli_command(*args), stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while committed_chunks(checkpoint) < 3 and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        _kill_group(process)
    committed = committed_chunks(checkpoint)
    done = subprocess.run(cli_command(*args), capture_output=True, check=True)
    result = json.loads(done.stdout)
    assert result["resumed_chunks"] == committed >= 3
    assert (result["read"], result["written"], result["rejected"]) == (8_000, 7_992, 8)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["row"] for r in rows] == [n for n in range(1, 8_001) if n % 1000 != 0]
