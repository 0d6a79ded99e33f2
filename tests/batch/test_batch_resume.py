"""Resumption: a run killed with SIGKILL at random points and started again gives the uninterrupted output."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from batch_support import cli_command, read_csv_rows, write_input_csv

from nlpops.bundle import Bundle

N_ROWS = 40_000
CHUNK_ROWS = 1_000
TOTAL_CHUNKS = N_ROWS // CHUNK_ROWS


def _batch_args(bundle: Path, source: Path, out: Path) -> list[str]:
    return [
        "batch", str(bundle), "--input", str(source), "--output", str(out), "--id-column", "id",
        "--workers", "2", "--chunk-rows", str(CHUNK_ROWS), "--batch-size", "128", "--quiet", "--json",
    ]  # fmt: skip


def _committed_chunks(checkpoint: Path) -> int:
    try:
        return len(json.loads(checkpoint.read_text(encoding="utf-8"))["chunks"])
    except (OSError, ValueError, KeyError):
        return 0


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
    rng = random.Random(20240611)
    # Three kills at random points of the run: each once the checkpoint holds a random number of committed
    # chunks (so the run is under way and not yet done), plus a random extra delay, so it lands anywhere in
    # the work on the next chunks (reading, predicting, writing a part, committing). A kill timed by the clock
    # alone could land after the run finished, which tests nothing: how long a run takes is the machine's.
    targets = sorted(rng.sample(range(2, TOTAL_CHUNKS // 2), 3))  # at least half the run is left after each
    extra_delays_s = [rng.uniform(0.0, 0.08) for _ in targets]
    for target, extra_delay_s in zip(targets, extra_delays_s, strict=True):
        process = subprocess.Popen(
            cli_command(*_batch_args(tiny_bundle.path, source, out)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while _committed_chunks(checkpoint) < target and process.poll() is None:
                assert time.monotonic() < deadline, "the batch run made no progress"
                time.sleep(0.01)
            time.sleep(extra_delay_s)
            assert process.poll() is None, "the run ended before it could be killed"
        finally:
            _kill_group(process)
        assert 0 < _committed_chunks(checkpoint) < TOTAL_CHUNKS

    done = subprocess.run(cli_command(*_batch_args(tiny_bundle.path, source, out)), capture_output=True, check=True)
    result = json.loads(done.stdout)
    assert result["resumed_chunks"] > 0
    assert (result["read"], result["written"], result["rejected"]) == (N_ROWS, N_ROWS - 40, 40)

    rows = read_csv_rows(out)
    ids = Counter(r["id"] for r in rows)
    assert len(rows) == N_ROWS - 40 and max(ids.values()) == 1
    assert out.read_bytes() == reference.read_bytes()
    assert (tmp_path / "out.rejects.csv").read_bytes() == (tmp_path / "reference.rejects.csv").read_bytes()
    assert not checkpoint.parent.exists()


@pytest.mark.slow
def test_batch_resume_after_partial_run_skips_committed_chunks(tiny_bundle: Bundle, tmp_path: Path) -> None:
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
        while _committed_chunks(checkpoint) < 3 and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        _kill_group(process)
    committed = _committed_chunks(checkpoint)
    done = subprocess.run(cli_command(*args), capture_output=True, check=True)
    result = json.loads(done.stdout)
    assert result["resumed_chunks"] == committed >= 3
    assert (result["read"], result["written"], result["rejected"]) == (8_000, 7_992, 8)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["row"] for r in rows] == [n for n in range(1, 8_001) if n % 1000 != 0]
