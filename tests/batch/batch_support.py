"""Helpers for batch tests: real inputs built from the bundled datasets, and the CLI as a subprocess."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nlpops.data import bundled_dataset


def cli_command(*args: str) -> list[str]:
    """The argv that runs ``nlpops <args>`` in a fresh interpreter."""
    return [sys.executable, "-m", "nlpops", *args]


def banking_texts() -> list[str]:
    """The real banking77 training texts."""
    with bundled_dataset("banking77", "train").open(newline="", encoding="utf-8") as fh:
        return [row["text"] for row in csv.DictReader(fh)]


def write_input_csv(path: Path, n_rows: int, *, empty_every: int = 0) -> Path:
    """A CSV (id,text) of ``n_rows`` banking77 texts repeated; every ``empty_every``-th text is empty."""
    texts = banking_texts()
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        for i in range(n_rows):
            empty = empty_every and i % empty_every == empty_every - 1
            writer.writerow([f"id-{i}", "" if empty else texts[i % len(texts)]])
    return path


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """All rows of a CSV file as dicts."""
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def committed_chunks(checkpoint: Path) -> int:
    """How many chunks a run's checkpoint says are committed (0 before the first)."""
    try:
        return len(json.loads(checkpoint.read_text(encoding="utf-8"))["chunks"])
    except (OSError, ValueError, KeyError):
        return 0


def kill_three_times_then_resume(
    args: list[str], checkpoint: Path, total_chunks: int, *, seed: int = 20240611
) -> dict[str, Any]:
    """Run ``nlpops <args>`` and SIGKILL it (its whole process group) three times at random points, then run it
    to the end; returns the final run's JSON result.

    Each kill lands once the checkpoint holds a random number of committed chunks (so the run is under way and
    not yet done, with at least half of it left), plus a random extra delay, so it lands anywhere in the work on
    the next chunks (reading, predicting, writing a part, committing). A kill timed by the clock alone could land
    after the run finished, which tests nothing: how long a run takes is the machine's.
    """
    rng = random.Random(seed)
    targets = sorted(rng.sample(range(2, total_chunks // 2), 3))
    extra_delays_s = [rng.uniform(0.0, 0.08) for _ in targets]
    for target, extra_delay_s in zip(targets, extra_delays_s, strict=True):
        process = subprocess.Popen(
            cli_command(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 120
            while committed_chunks(checkpoint) < target and process.poll() is None:
                assert time.monotonic() < deadline, "the batch run made no progress"
                time.sleep(0.01)
            time.sleep(extra_delay_s)
            assert process.poll() is None, "the run ended before it could be killed"
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        assert 0 < committed_chunks(checkpoint) < total_chunks
    done = subprocess.run(cli_command(*args), capture_output=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result
