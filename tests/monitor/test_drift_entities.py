"""Drift of an entity model: the entity type mix and the entities per text, stored with the live statistics,
compared with the bundle's reference, and exported as Prometheus gauges like the other checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest

from nlpops.monitor import DriftGauges, DriftReport, DriftThresholds, LiveStats, StatsStore, detect_drift
from nlpops.reference import reference_statistics
from nlpops.serve import Observation
from nlpops.tasks import Span, Spans

TYPES = ["location", "person", "product"]


def _texts_and_spans(rng: np.random.Generator, n: int, mix: list[float], per_text: float) -> tuple[list[str], Spans]:
    """Texts of 8 to 30 words with a Poisson number of one-word entities of types drawn from ``mix``."""
    texts, spans = [], []
    for _ in range(n):
        words = [f"w{i}" for i in range(int(rng.integers(8, 30)))]
        starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
        chosen = sorted(rng.choice(len(words), size=min(int(rng.poisson(per_text)), len(words)), replace=False))
        found = [Span(int(starts[i]), int(starts[i]) + len(words[i]), str(rng.choice(TYPES, p=mix))) for i in chosen]
        texts.append(" ".join(words))
        spans.append(found)
    return texts, spans


def _report(tmp_path: Path, mix: list[float], per_text: float, seed: int) -> tuple[dict[str, Any], DriftReport]:
    rng = np.random.default_rng(seed)
    reference = reference_statistics(*_texts_and_spans(rng, 3000, [0.3, 0.5, 0.2], 1.0), TYPES, task="entities")
    texts, spans = _texts_and_spans(rng, 2000, mix, per_text)
    live = LiveStats(StatsStore(tmp_path / "monitor.db"), clock=lambda: 1000.0)
    for start in range(0, len(texts), 50):
        rows = slice(start, start + 50)
        live.observe(Observation(texts[rows], spans[rows], TYPES, "en", "ner", "1", "entities", None))
    live.flush()  # through the SQLite store: the entity counters survive it
    snapshot = live.snapshot("ner", "1", window_s=10.0)
    return snapshot, detect_drift(reference, snapshot, DriftThresholds(), model="ner", version="1", task="entities")


def _exported(report: DriftReport) -> str:
    registry = CollectorRegistry()
    DriftGauges(registry).update(report)
    return generate_latest(registry).decode()


def test_entities_drift_same_distribution_is_not_drift(tmp_path: Path) -> None:
    live, report = _report(tmp_path, [0.3, 0.5, 0.2], 1.0, seed=1)
    assert live["rows"] == 2000 and sum(live["cardinality_hist"]) == 2000
    assert sum(live["label_counts"].values()) > 1500
    assert {c.statistic for c in report.checks} == {"length", "entity_type", "entities_per_text"}
    assert report.status == "no_drift", report.to_dict()


def test_entities_drift_flags_the_type_mix(tmp_path: Path) -> None:
    _, report = _report(tmp_path, [0.1, 0.2, 0.7], 1.0, seed=2)  # products instead of persons
    assert {c.statistic for c in report.drifted} == {"entity_type"}
    exported = _exported(report)
    assert 'nlpops_drift_detected{lang="*",model="ner",statistic="entity_type",version="1"} 1.0' in exported
    assert 'nlpops_drift_detected{lang="*",model="ner",statistic="entities_per_text",version="1"} 0.0' in exported


def test_entities_drift_flags_entities_per_text(tmp_path: Path) -> None:
    _, report = _report(tmp_path, [0.3, 0.5, 0.2], 3.0, seed=3)  # three entities per text instead of one
    assert "entities_per_text" in {c.statistic for c in report.drifted}
    assert "entity_type" not in {c.statistic for c in report.drifted}
    assert 'statistic="entities_per_text",version="1"} 1.0' in _exported(report)
