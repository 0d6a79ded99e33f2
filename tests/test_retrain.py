"""Retraining: challenger vs champion on one held-out set, gates, promotion, the scheduler."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nlpops.checklist import NlpopsConfig, RegistrySettings, RetrainingSettings
from nlpops.data import Dataset, bundled_dataset, read_dataset
from nlpops.errors import ConfigError
from nlpops.registry import open_registry
from nlpops.retrain import evaluate_gates, next_run, retrain, run_schedule

CONFIG = NlpopsConfig.model_validate(
    {
        "name": "spam",
        "model": {"tfidf": {"char_ngrams": False, "c": 5.0}},
        "retraining": {"min_macro_f1": 0.5, "max_regression": 0.01, "max_latency_regression": 10.0},
    }
)


@pytest.fixture(scope="module")
def spam() -> tuple[Dataset, Dataset]:
    return read_dataset(bundled_dataset("sms_spam", "train")), read_dataset(bundled_dataset("sms_spam", "test"))


def _registry(tmp_path: Path):
    return open_registry(RegistrySettings(home=tmp_path / "home"))


def test_retrain_promotes_better_challenger_and_refuses_shuffled(tmp_path: Path, spam: tuple[Dataset, Dataset]) -> None:
    train, test = spam
    held_out = test.subset(range(400))
    registry = _registry(tmp_path)
    first = retrain(CONFIG, train.subset(range(300)), registry, test=held_out, out_dir=tmp_path / "models")
    assert first.promoted and first.champion is None and first.decided_by == "all gates passed"

    second = retrain(CONFIG, train.subset(range(2000)), registry, test=held_out, out_dir=tmp_path / "models")
    assert second.promoted, second.to_dict()
    assert second.champion is not None and second.champion.version == first.challenger.version
    assert registry.alias_target("spam", "production") == second.challenger.version
    assert second.challenger_metrics["macro_f1"] >= second.champion_metrics["macro_f1"] - 0.01

    rows = train.subset(range(2000))
    shuffled = list(rows.labels)
    random.Random(0).shuffle(shuffled)
    worse = retrain(CONFIG, Dataset(rows.texts, shuffled), registry, test=held_out, out_dir=tmp_path / "models")
    assert not worse.promoted
    assert worse.decided_by in {"min_macro_f1", "max_regression"}
    assert registry.alias_target("spam", "production") == second.challenger.version  # v2 keeps serving
    assert [v.version for v in registry.list_versions("spam")] == [1, 2, 3]  # the challenger is still registered


def test_gates_decide_in_order() -> None:
    settings = RetrainingSettings(min_macro_f1=0.8, max_regression=0.02, max_latency_regression=0.5)
    champion = {"macro_f1": 0.90, "per_language": {"en": {"macro_f1": 0.9}, "de": {"macro_f1": 0.9}}}
    challenger = {"macro_f1": 0.91, "per_language": {"en": {"macro_f1": 0.95}, "de": {"macro_f1": 0.85}}}
    gates = evaluate_gates(settings, challenger, champion, {"challenger": 1.0, "champion": 1.0})
    failed = [g.name for g in gates if not g.passed]
    assert failed == ["max_regression[de]"]
    slow = evaluate_gates(settings, {"macro_f1": 0.9}, {"macro_f1": 0.9}, {"challenger": 2.0, "champion": 1.0})
    assert [g.name for g in slow if not g.passed] == ["max_latency_regression"]
    low = evaluate_gates(settings, {"macro_f1": 0.5}, None, {})
    assert [(g.name, g.passed) for g in low] == [("min_macro_f1", False)]


def test_schedule_runs_when_cron_fires() -> None:
    now = [datetime(2025, 1, 1, 2, 30, tzinfo=UTC)]
    ran: list[datetime] = []

    def sleep(seconds: float) -> None:
        now[0] += timedelta(seconds=seconds)

    runs = run_schedule("0 3 * * *", lambda: ran.append(now[0]), max_runs=2, clock=lambda: now[0], sleep=sleep)
    assert runs == 2
    assert ran == [datetime(2025, 1, 1, 3, 0, tzinfo=UTC), datetime(2025, 1, 2, 3, 0, tzinfo=UTC)]


def test_schedule_rejects_bad_cron() -> None:
    with pytest.raises(ConfigError, match="cron"):
        next_run("every sunday", datetime.now(UTC))


def test_retrain_multilabel_gates_on_the_multilabel_macro_f1(tmp_path: Path) -> None:
    """A multi-label challenger is scored with the multi-label report (thresholds applied) and gated on its
    macro-F1; labels shuffled between texts fall below the minimum and are not promoted."""
    train = read_dataset(bundled_dataset("xed_multilabel", "train"))
    test = read_dataset(bundled_dataset("xed_multilabel", "test")).subset(range(0, 3505, 5))
    rows = train.subset(range(0, 14021, 4))
    config = NlpopsConfig.model_validate(
        {"name": "emotions", "model": {"tfidf": {"char_ngrams": False}}, "retraining": {"min_macro_f1": 0.3}}
    )
    registry = _registry(tmp_path)
    first = retrain(config, rows, registry, test=test, out_dir=tmp_path / "models")
    assert first.promoted, first.to_dict()
    assert [g.name for g in first.gates] == ["min_macro_f1"]
    assert "micro_f1" in first.challenger_metrics and first.challenger_metrics["macro_f1"] >= 0.3
    assert first.to_dict()["challenger"]["micro_f1"] == first.challenger_metrics["micro_f1"]
    shuffled = list(rows.label_sets or [])
    random.Random(0).shuffle(shuffled)
    worse = retrain(
        config,
        Dataset(rows.texts, [], task="multilabel", label_sets=shuffled),
        registry,
        test=test,
        out_dir=tmp_path / "models",
    )
    assert not worse.promoted and worse.decided_by in {"min_macro_f1", "max_regression"}
    assert registry.alias_target("emotions", "production") == first.challenger.version


def test_gates_compare_the_named_metric() -> None:
    settings = RetrainingSettings(min_macro_f1=0.5, max_regression=0.02)
    gates = evaluate_gates(settings, {"f1": 0.6}, {"f1": 0.7}, {}, metric="f1")
    assert [(g.name, g.passed) for g in gates] == [("min_f1", True), ("max_regression", False)]
    assert gates[1].detail == "F1 0.7000 -> 0.6000 (drop +0.1000)"
