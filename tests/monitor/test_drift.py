"""Library-level drift: the observer's statistics against the bundle's reference, on real data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from nlpops.bundle import Bundle
from nlpops.monitor import DriftThresholds, LiveStats, StatsStore, detect_drift, merge_windows
from nlpops.monitor.drift import chi_squared, compare_statistics, ks_binned, psi
from nlpops.monitor.store import WindowRecord
from nlpops.reference import oov_counts
from nlpops.runtimes import load_predictor
from nlpops.serve import Observation


def _observe(live: LiveStats, bundle: Bundle, texts: list[str], version: str = "1", lang: str = "en") -> None:
    predictor = load_predictor(bundle.path)
    for start in range(0, len(texts), 16):
        chunk = texts[start : start + 16]
        live.observe(Observation(chunk, predictor.predict_proba(chunk), predictor.labels, lang, "spam", version))


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
    live.observe(Observation(texts, predictor.predict_proba(texts), predictor.labels, langs, "spam", "1"))
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


def test_oov_counts_flow_from_live_stats_through_the_store(tmp_path: Path, spam_bundle: Bundle) -> None:
    predictor = load_predictor(spam_bundle.path)
    vocabulary = predictor.vocabulary()
    assert vocabulary is not None and "free" in vocabulary
    texts = ["free entry to win", "zzqx unknownword free", "hello"]
    langs = ["en", "de", "en"]
    store = StatsStore(tmp_path / "m.db")
    live = LiveStats(store)
    observation = Observation(texts, predictor.predict_proba(texts), predictor.labels, langs, "spam", "1")
    live.observe(observation, vocabulary=vocabulary)
    live.flush()
    merged = merge_windows(store.load_windows("spam", "1"))
    tokens, oov = oov_counts(texts, vocabulary)
    assert (merged["tokens"], merged["oov_tokens"]) == (int(tokens.sum()), int(oov.sum()))
    assert merged["by_language"]["de"]["oov_tokens"] == int(oov[1]) >= 2


def test_store_written_before_oov_counts_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the window_stats table as the first release wrote it
        conn.execute(
            "CREATE TABLE window_stats (id INTEGER PRIMARY KEY AUTOINCREMENT, ts_start REAL NOT NULL, "
            "ts_end REAL NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL, lang TEXT NOT NULL, "
            "rows INTEGER NOT NULL, length_hist TEXT NOT NULL, confidence_hist TEXT NOT NULL, "
            "label_counts TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO window_stats (ts_start, ts_end, model, version, lang, rows, length_hist, confidence_hist, "
            "label_counts) VALUES (1, 2, 'spam', '1', 'en', 3, '[3]', '[3]', '{\"ham\": 3}')"
        )
    conn.close()
    store = StatsStore(path)
    (old,) = store.load_windows("spam")
    assert old.rows == 3 and (old.tokens, old.oov_tokens) == (0, 0)
    store.save_windows([WindowRecord(3, 4, "spam", "1", "en", 1, [1], [1], {"ham": 1}, 5, 2)])
    assert [(r.tokens, r.oov_tokens) for r in store.load_windows("spam")] == [(0, 0), (5, 2)]


def test_oov_drift_needs_counts_on_both_sides() -> None:
    reference = {"rows": 500, "tokens": 8000, "oov_tokens": 800}
    unknown = {"rows": 500, "tokens": 6000, "oov_tokens": 4200}
    (check,) = compare_statistics(reference, unknown, DriftThresholds())
    assert check.statistic == "oov" and check.drifted and check.psi > 1
    same = {"rows": 500, "tokens": 6000, "oov_tokens": 610}
    assert not compare_statistics(reference, same, DriftThresholds())[0].drifted
    assert compare_statistics({"rows": 500, "oov_rate": 0.1}, unknown, DriftThresholds()) == []  # older bundles


def test_language_mix_compares_like_with_like_without_und() -> None:
    # a model set's reference counts the texts its fallback answers as und; live traffic leaves und out of the
    # mix: so must the reference, or a service answering exactly the reference texts alarms
    thresholds = DriftThresholds(min_rows=100)
    reference = {"rows": 400, "languages": {"it": 150, "fur": 150, "und": 100}}
    live = {"rows": 400, "languages": {"it": 150, "fur": 150, "und": 100}}
    report = detect_drift(reference, live, thresholds, model="m", version="1")
    (language,) = [c for c in report.checks if c.statistic == "language"]
    assert not language.drifted and language.psi == pytest.approx(0.0)
    moved = {"rows": 400, "languages": {"it": 290, "fur": 10, "und": 100}}
    (language,) = [c for c in detect_drift(reference, moved, thresholds, model="m", version="1").checks]
    assert language.statistic == "language" and language.drifted
