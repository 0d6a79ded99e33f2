"""ACCEPTANCE: 8 processes registering and promoting into one registry home at the same time."""

from __future__ import annotations

import multiprocessing
import queue
import time
from pathlib import Path
from typing import Any

from nlpops.bundle import load_bundle
from nlpops.registry import SqliteRegistry

WORKERS = 8
PER_WORKER = 20


def _register_and_promote(home: str, bundles: list[str], worker: int, start: Any, results: Any) -> None:
    """Child process: wait for the start signal, then register and promote each bundle in turn."""
    reg = SqliteRegistry(home, actor=f"worker-{worker}")
    start.wait(60)
    outcome: list[tuple[str, int]] = []
    for bundle in bundles:
        version = reg.register(bundle, name="intent").version
        reg.promote("intent", version)
        outcome.append((Path(bundle).name, version))
    results.put((worker, outcome))


def test_registry_concurrent_processes_register_and_promote_exactly_once(tmp_path: Path, make_bundle) -> None:
    home = tmp_path / ".nlpops"
    sources = {
        w: [str(make_bundle(name="intent", version=f"w{w}-{i}")) for i in range(PER_WORKER)] for w in range(WORKERS)
    }
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_register_and_promote, args=(str(home), sources[w], w, start, results))
        for w in range(WORKERS)
    ]
    began = time.monotonic()
    for proc in procs:
        proc.start()
    outcomes: dict[int, list[tuple[str, int]]] = {}
    try:
        start.set()
        deadline = time.monotonic() + 120
        while len(outcomes) < WORKERS and time.monotonic() < deadline:
            try:
                worker, outcome = results.get(timeout=0.5)
            except queue.Empty:
                if not any(proc.is_alive() for proc in procs) and results.empty():
                    break  # a worker died without reporting: its exit code below says so
                continue
            outcomes[worker] = outcome
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()
    elapsed = time.monotonic() - began
    assert [proc.exitcode for proc in procs] == [0] * WORKERS
    assert sorted(outcomes) == list(range(WORKERS))
    total = WORKERS * PER_WORKER

    # No two registrations got the same version; the numbers are exactly 1..160.
    claimed = [version for outcome in outcomes.values() for _, version in outcome]
    assert sorted(claimed) == list(range(1, total + 1))
    for outcome in outcomes.values():  # each process saw its own versions increase
        assert [v for _, v in outcome] == sorted(v for _, v in outcome)

    reg = SqliteRegistry(home)
    versions = reg.list_versions("intent")
    assert [v.version for v in versions] == list(range(1, total + 1))
    # Every source bundle was registered exactly once, under the version its process was told, and each
    # stored copy verifies and is that bundle.
    by_version = {v.version: v for v in versions}
    made = {Path(src).name: f"w{w}-{i}" for w, paths in sources.items() for i, src in enumerate(paths)}
    for outcome in outcomes.values():
        for src_name, number in outcome:
            assert by_version[number].bundle_version == made[src_name]
    for entry in versions:
        assert load_bundle(entry.bundle_path).manifest.version == entry.bundle_version
    assert sorted(v.bundle_version for v in versions) == sorted(made.values())
    assert sorted(p.name for p in (home / "artifacts" / "intent").iterdir()) == sorted(str(n) for n in by_version)
    assert list((home / "staging").iterdir()) == []

    # Every alias points at a registered version; production ends where the last promotion put it.
    aliases = reg.aliases("intent")
    assert set(aliases) == {"production"}
    assert all(target in by_version for target in aliases.values())

    # The event log holds every event: 160 registered + 160 promoted, each version once per action.
    events = reg.events(name="intent")
    registered = sorted(e.version for e in events if e.action == "registered")
    promoted = [e for e in events if e.action == "promoted"]
    assert registered == list(range(1, total + 1))
    assert sorted(e.version for e in promoted) == list(range(1, total + 1))
    assert len(events) == 2 * total
    assert aliases["production"] == promoted[-1].version
    # Each promotion's previous_version is the target the one before it left behind.
    assert [e.previous_version for e in promoted] == [None, *(e.version for e in promoted[:-1])]
    assert {e.actor for e in events} == {f"worker-{w}" for w in range(WORKERS)}
    assert elapsed < 60

    # The alias history kept up too: a rollback returns to the target before the last promotion.
    assert reg.rollback("intent").version == promoted[-2].version
