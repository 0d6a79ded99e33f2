"""Live statistics stay whole while a background flush moves them from memory to the store."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from nlpops.monitor import LiveStats, StatsStore
from nlpops.serve import Observation


def test_live_snapshot_never_loses_rows_during_flush(tmp_path: Path) -> None:
    live = LiveStats(StatsStore(tmp_path / "m.db"))
    proba = np.tile([0.8, 0.2], (10, 1))
    observed = 0
    stop = threading.Event()

    def observe_and_flush() -> None:
        nonlocal observed
        while not stop.is_set():
            live.observe(Observation(["my card has not arrived"] * 10, proba, ["card", "money"], "en", "m", "1"))
            observed += 10
            live.flush()

    worker = threading.Thread(target=observe_and_flush)
    worker.start()
    seen: list[tuple[int, int]] = []
    try:
        for _ in range(300):
            before = observed
            rows = live.snapshot("m", "1", window_s=3600)["rows"]
            seen.append((before, rows))
    finally:
        stop.set()
        worker.join()
    # every row observed before a snapshot began is in it, whether still in memory or already stored
    assert all(rows >= before for before, rows in seen), [pair for pair in seen if pair[1] < pair[0]][:5]
    assert live.snapshot("m", "1", window_s=3600)["rows"] == observed
