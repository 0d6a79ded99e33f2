"""Library-level drift: the observer's statistics against the bundle's reference, on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nlpops.bundle import Bundle
from nlpops.monitor import DriftThresholds, LiveStats, StatsStore, detect_drift, merge_windows
from nlpops.monitor.drift import chi_squared, ks_binned, psi
from nlpops.runtimes import load_predictor


def _observe(live: LiveStats, bundle: Bundle, texts: list[str], version: str = "1", lang: str = "en") -> None:
    predictor = load_predictor(bundle.path)
    for start in range(0, len(texts), 16):
        chunk = texts[start : start + 16]
        live.observe(chunk, predictor.predict_proba(chunk), predictor.labels, lang, "spam", version)


def _report(bundle: Bundle, live_stats: dict) -> object:
    manifest = bundle.manifest
    return detect_drift(
        manifest.reference, live_stats, DriftThresholds(), model="spam", version="1", languages=manifest.languages
    )


def test_drift_same_distribution_is_not_drift(spam_bundle: Bundle, same_distribution: list[str]) -> None:
    live = LiveStats(None)
    _observe(live, spam_bundle, same_distribution)
    report = _report(spam_bundle, live.snapshot("spam", "1", window_s=3600))
    assert report.status == "no_drift", report.to_dict()
    assert report.live_rows == len(same_distribution)


def test_drift_other_dataset_is_drift(spam_bundle: Bundle, other_distribution: list[str]) -> None:
    live = LiveStats(None)
    _observe(live, spam_bundle, other_distribution)
    report = _report(spam_bundle, live.snapshot("spam", "1", window_s=3600))
    assert report.status == "drift"
    drifted = {c.statistic for c in report.drifted}
    assert {"length", "label"} <= drifted
    assert all(c.p_value < 0.01 and c.psi >= 0.2 for c in report.drifted)


def test_drift_language_mix(spam_bundle: Bundle, same_distribution: list[str]) -> None:
    live = LiveStats(None)
    _observe(live, spam_bundle, same_distribution, lang="de")
    report = _report(spam_bundle, live.snapshot("spam", "1", window_s=3600))
    assert [c.statistic for c in report.drifted] == ["language"]


def test_drift_too_few_rows_is_no_verdict(spam_bundle: Bundle, other_distribution: list[str]) -> None:
    live = LiveStats(None)
    _observe(live, spam_bundle, other_distribution[:50])
    assert _report(spam_bundle, live.snapshot("spam", "1", window_s=3600)).status == "insufficient_data"


def test_live_stats_flush_to_store_and_window(
    tmp_path: Path, spam_bundle: Bundle, other_distribution: list[str]
) -> None:
    now = [1_000_000.0]
    store = StatsStore(tmp_path / "monitor.db")
    live = LiveStats(store, clock=lambda: now[0])
    _observe(live, spam_bundle, other_distribution[:200])
    assert live.flush() == 200
    assert LiveStats(None).flush() == 0
    now[0] += 7200
    _observe(live, spam_bundle, other_distribution[200:300], version="2")
    live.flush()
    assert store.versions("spam") == ["1", "2"]
    assert merge_windows(store.load_windows("spam", "1"))["rows"] == 200
    assert live.snapshot("spam", None, window_s=3600)["rows"] == 100  # the older flush fell out of the window
    assert store.load_texts() == []  # texts are not stored unless asked


def test_live_stats_per_language_groups(spam_bundle: Bundle, same_distribution: list[str]) -> None:
    predictor = load_predictor(spam_bundle.path)
    texts = same_distribution[:30]
    langs = ["en", "de", None] * 10
    live = LiveStats(None)
    live.observe(texts, predictor.predict_proba(texts), predictor.labels, langs, "spam", "1")
    snap = live.snapshot("spam", "1", window_s=60)
    assert snap["languages"] == {"de": 10, "en": 10, "und": 10}
    assert sum(snap["by_language"]["en"]["length_hist"]) == 10
    assert sum(snap["label_counts"].values()) == 30


def test_statistical_tests_behave() -> None:
    assert psi([10, 20, 30], [10, 20, 30]) == pytest.approx(0.0)
    assert psi([100, 0], [0, 100]) > 5
    d, p = ks_binned([50, 50, 0], [0, 50, 50])
    assert d == pytest.approx(0.5) and p < 1e-6
    chi2, p, score = chi_squared({"a": 500, "b": 500}, {"a": 490, "b": 510})
    assert p > 0.5 and score < 0.01
    assert np.isfinite(chi2)
