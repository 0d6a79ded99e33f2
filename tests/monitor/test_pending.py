"""Queued observations: counting them in batches gives exactly the counts of observing each request."""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpops.monitor import LiveStats
from nlpops.monitor.pending import PendingObservations
from nlpops.serve import Observation

LABELS = ["ham", "spam"]


def _requests() -> list[Observation]:
    rng = np.random.default_rng(0)
    langs: list[Any] = ["en", "en", None, ["en", "de", None], "de", ["de", "de", "de"], "en"]
    versions = ["1", "1", "1", "1", "2", "2", "1"]
    out = []
    for i, (lang, version) in enumerate(zip(langs, versions, strict=True)):
        texts = [f"text {i} " + "x" * int(n) for n in rng.integers(1, 300, 3)]
        out.append(Observation(texts, rng.dirichlet([1.0, 1.0], size=3), list(LABELS), lang, "spam", version))
    return out


def test_pending_drain_counts_like_direct_observation() -> None:
    direct, batched = LiveStats(None), LiveStats(None)
    pending = PendingObservations(batched, max_pending=1000)
    for request in _requests():
        direct.observe(request)
        pending.add(request)
    assert batched.snapshot("spam", None, window_s=60)["rows"] == 0  # queued, not counted yet
    assert pending.drain() == len(_requests())
    for version in ("1", "2", None):
        assert batched.snapshot("spam", version, window_s=60) == direct.snapshot("spam", version, window_s=60)
    assert pending.drain() == 0


def test_pending_drains_itself_when_full() -> None:
    live = LiveStats(None)
    pending = PendingObservations(live, max_pending=4)
    for request in _requests()[:5]:
        pending.add(request)
    assert live.snapshot("spam", None, window_s=60)["rows"] == 4 * 3  # the fourth add drained four requests


def test_pending_asks_its_thread_to_drain_and_drains_itself_only_far_behind() -> None:
    # the service's event loop only appends; counting runs on the monitor's thread (woken by on_full)
    live = LiveStats(None)
    wakes: list[int] = []
    pending = PendingObservations(live, max_pending=4, on_full=lambda: wakes.append(1))
    requests = _requests()
    for i in range(4 * PendingObservations.BACKLOG_FACTOR - 1):
        pending.add(requests[i % len(requests)])
    assert wakes == [1] and live.snapshot("spam", None, window_s=60)["rows"] == 0  # asked once, nothing counted
    pending.add(requests[0])  # the thread fell far behind: add drains (memory stays bounded)
    assert pending.drain() == 0
    rows = sum(live.snapshot("spam", v, window_s=60)["rows"] for v in ("1", "2"))
    assert rows == 4 * PendingObservations.BACKLOG_FACTOR * 3
