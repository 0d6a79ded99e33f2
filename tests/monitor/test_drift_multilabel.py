"""Drift of a multi-label model: labels per text (cardinality) and each label's rate, stored with the live
statistics, compared with the bundle's reference, and exported as Prometheus gauges like the other checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest

from nlpops.monitor import DriftGauges, DriftThresholds, LiveStats, StatsStore, detect_drift
from nlpops.reference import reference_statistics
from nlpops.serve import Observation

LABELS = ["anger", "joy", "trust"]
THRESHOLDS = [0.5, 0.4, 0.6]


def _proba(rng: np.random.Generator, n: int, rates: list[float]) -> np.ndarray:
    """Independent per-label probabilities: a label is above its threshold with the given rate."""
    above = rng.random((n, len(rates))) < np.asarray(rates)
    low = rng.uniform(0.0, 0.35, (n, len(rates)))
    high = rng.uniform(0.65, 1.0, (n, len(rates)))
    return np.where(above, high, low)


def _texts(rng: np.random.Generator, n: int) -> list[str]:
    return ["word " * int(k) for k in rng.integers(2, 20, n)]


def _live(tmp_path: Path, proba: np.ndarray, texts: list[str]) -> dict[str, object]:
    live = LiveStats(StatsStore(tmp_path / "monitor.db"), clock=lambda: 1000.0)
    for start in range(0, len(texts), 50):
        rows = slice(start, start + 50)
        live.observe(Observation(texts[rows], proba[rows], LABELS, "en", "m", "1", "multilabel", THRESHOLDS))
    live.flush()  # through the SQLite store: the task's counters survive it
    return live.snapshot("m", "1", window_s=10.0)


def _report(tmp_path: Path, live_rates: list[float], seed: int) -> tuple[dict[str, object], object]:
    rng = np.random.default_rng(seed)
    ref_texts = _texts(rng, 3000)
    reference = reference_statistics(
        ref_texts, _proba(rng, 3000, [0.3, 0.2, 0.1]), LABELS, task="multilabel", thresholds=THRESHOLDS
    )
    texts = _texts(rng, 2000)
    live = _live(tmp_path, _proba(rng, 2000, live_rates), texts)
    report = detect_drift(reference, live, DriftThresholds(), model="m", version="1", task="multilabel")
    return live, report


def test_multilabel_drift_counts_cardinality_and_label_rates(tmp_path: Path) -> None:
    live, report = _report(tmp_path, [0.3, 0.2, 0.1], seed=1)
    assert live["rows"] == 2000 and sum(live["cardinality_hist"]) == 2000  # type: ignore[arg-type]
    names = {check.statistic for check in report.checks}  # type: ignore[attr-defined]
    assert {"cardinality", "label", "label_rate:anger", "label_rate:joy", "label_rate:trust"} <= names
    assert report.status == "no_drift", report.to_dict()  # type: ignore[attr-defined]


def test_multilabel_drift_flags_a_label_rate_and_the_cardinality(tmp_path: Path) -> None:
    _, report = _report(tmp_path, [0.3, 0.7, 0.1], seed=2)  # joy on 70% of texts instead of 20%
    drifted = {check.statistic for check in report.drifted}  # type: ignore[attr-defined]
    assert "label_rate:joy" in drifted and "cardinality" in drifted
    assert "label_rate:anger" not in drifted and "label_rate:trust" not in drifted
    registry = CollectorRegistry()
    DriftGauges(registry).update(report)  # type: ignore[arg-type]
    exported = generate_latest(registry).decode()
    assert 'nlpops_drift_detected{lang="*",model="m",statistic="label_rate:joy",version="1"} 1.0' in exported
    assert 'nlpops_drift_detected{lang="*",model="m",statistic="cardinality",version="1"} 1.0' in exported
    assert 'nlpops_drift_detected{lang="*",model="m",statistic="label_rate:anger",version="1"} 0.0' in exported
