"""Retraining: train a challenger, compare it with the champion on one held-out set, promote only through gates.

Gates (the ``retraining`` section) compare the task's headline metric (``TASKS[task].metric``: macro-F1 for
classification and multilabel): ``min_macro_f1`` (absolute; the gate is named ``min_<metric>``),
``max_regression`` (drop vs the champion, overall and per language) and ``max_latency_regression`` (relative
p50 slowdown in a quick profile of both models measured in the same run). The challenger is always
registered; the alias moves only when every gate passes, and running services following the alias hot-swap
to it.

A champion that was packaged (``nlpops package``) is retrained with its own library (see
:mod:`nlpops.packaging.retrain`) instead of the configured family, and goes through the same gates.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nlpops.api import read_labelled
from nlpops.bundle import load_bundle
from nlpops.checklist import NlpopsConfig, RetrainingSettings
from nlpops.data import Dataset, split_dataset
from nlpops.errors import ConfigError, DataError
from nlpops.families import build_bundle
from nlpops.metrics import task_report
from nlpops.names import model_name_problem
from nlpops.packaging import packaged_kind, retrain_packaged
from nlpops.registry import DEFAULT_ALIAS, ModelVersion, Registry
from nlpops.runtimes import Predictor, load_predictor, predict_output
from nlpops.tasks import TASKS

_PROFILE_TEXTS = 32
_METRIC_NAMES = {"macro_f1": "macro-F1", "micro_f1": "micro-F1", "f1": "F1", "knn_accuracy": "kNN accuracy"}
_PROFILE_ROUNDS = 3


@dataclass(frozen=True)
class Gate:
    """One promotion gate: its measured value, its limit, and whether it passed."""

    name: str
    passed: bool
    value: float
    limit: float
    detail: str


@dataclass(frozen=True)
class RetrainReport:
    """What a retrain did: both models' scores on the same held-out set, the gates, the decision."""

    name: str
    challenger: ModelVersion
    champion: ModelVersion | None
    alias: str
    promoted: bool
    decided_by: str
    gates: list[Gate]
    challenger_metrics: dict[str, Any]
    champion_metrics: dict[str, Any] | None
    latency_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``nlpops retrain --json``)."""

        def summary(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
            if metrics is None:
                return None
            keys = ("rows", "accuracy", "macro_f1", "micro_f1", "f1", "knn_accuracy", "per_language")
            return {k: metrics[k] for k in keys if k in metrics}

        return {
            "name": self.name,
            "challenger_version": self.challenger.version,
            "champion_version": None if self.champion is None else self.champion.version,
            "alias": self.alias,
            "promoted": self.promoted,
            "decided_by": self.decided_by,
            "gates": [asdict(g) for g in self.gates],
            "challenger": summary(self.challenger_metrics),
            "champion": summary(self.champion_metrics),
            "latency_ms": self.latency_ms,
        }


def load_training_data(paths: Sequence[Path | str], config: NlpopsConfig) -> Dataset:
    """Read and concatenate labelled datasets (old data first, then new).

    Args:
        paths: one or more dataset files.
        config: the config (column names).

    Returns:
        All rows in order.

    Raises:
        DataError: no path given, or a file cannot be read.
    """
    if not paths:
        raise DataError("No training data given. Pass --data NEW.csv (and --old OLD.csv to train on both).")
    data = read_labelled(paths[0], config)
    for path in paths[1:]:
        data = data.concat(read_labelled(path, config))
    return data


def evaluate_gates(
    settings: RetrainingSettings,
    challenger: dict[str, Any],
    champion: dict[str, Any] | None,
    latency_ms: dict[str, float],
    metric: str = "macro_f1",
) -> list[Gate]:
    """The gates of ``settings`` applied to both models' metrics on the same held-out set.

    Args:
        settings: the ``retraining`` section.
        challenger: the challenger's evaluation report (:func:`nlpops.metrics.task_report`).
        champion: the champion's report on the same rows, or None when there is no champion yet.
        latency_ms: ``{"challenger": p50, "champion": p50}`` from the same run.
        metric: the report key the quality gates compare (the task's headline metric).

    Returns:
        The gates in the order they are checked.
    """
    name = _METRIC_NAMES.get(metric, metric)
    f1 = float(challenger[metric])
    gates = [
        Gate(
            f"min_{metric}",
            f1 >= settings.min_macro_f1,
            f1,
            settings.min_macro_f1,
            f"challenger {name} {f1:.4f} vs minimum {settings.min_macro_f1:.4f}",
        )
    ]
    if champion is None:
        return gates
    drop = float(champion[metric]) - f1
    gates.append(
        Gate(
            "max_regression",
            drop <= settings.max_regression,
            drop,
            settings.max_regression,
            f"{name} {float(champion[metric]):.4f} -> {f1:.4f} (drop {drop:+.4f})",
        )
    )
    for lang, scores in sorted((challenger.get("per_language") or {}).items()):
        before = (champion.get("per_language") or {}).get(lang)
        if before is None or metric not in before or metric not in scores:
            continue
        lang_drop = float(before[metric]) - float(scores[metric])
        gates.append(
            Gate(
                f"max_regression[{lang}]",
                lang_drop <= settings.max_regression,
                lang_drop,
                settings.max_regression,
                f"{lang}: {name} {float(before[metric]):.4f} -> {float(scores[metric]):.4f}",
            )
        )
    if latency_ms.get("champion"):
        slowdown = latency_ms["challenger"] / latency_ms["champion"] - 1.0
        gates.append(
            Gate(
                "max_latency_regression",
                slowdown <= settings.max_latency_regression,
                slowdown,
                settings.max_latency_regression,
                f"p50 {latency_ms['champion']:.2f} ms -> {latency_ms['challenger']:.2f} ms ({slowdown:+.0%})",
            )
        )
    return gates


def profile_p50_ms(predictors: dict[str, Predictor], texts: Sequence[str]) -> dict[str, float]:
    """Median single-text latency of each predictor, measured interleaved in the same run (fair ratio).

    Args:
        predictors: name -> predictor.
        texts: texts to time (each predicted alone).

    Returns:
        name -> p50 in milliseconds.
    """
    sample = list(texts[:_PROFILE_TEXTS]) or ["hello"]
    timings: dict[str, list[float]] = {name: [] for name in predictors}
    for predictor in predictors.values():
        predict_output(predictor, sample[:1])  # warm up
    for _ in range(_PROFILE_ROUNDS):
        for text in sample:
            for name, predictor in predictors.items():
                started = time.perf_counter()
                predict_output(predictor, [text])
                timings[name].append((time.perf_counter() - started) * 1000.0)
    return {name: sorted(values)[len(values) // 2] for name, values in timings.items()}


def retrain(
    config: NlpopsConfig,
    data: Dataset,
    registry: Registry,
    *,
    test: Dataset | None = None,
    name: str | None = None,
    alias: str = DEFAULT_ALIAS,
    out_dir: Path | str = "models",
    progress: Callable[[str], None] | None = None,
) -> RetrainReport:
    """Train a challenger on ``data``, gate it against the champion (``name@alias``), promote if every gate passes.

    Args:
        config: the config (family, data split, ``retraining`` gates).
        data: the training data (new, or old + new).
        registry: where the champion lives and the challenger is registered.
        test: the held-out set both models are scored on; default a stratified split of ``data``.
        name: the model name (default ``config.name``).
        alias: the alias the champion holds and the challenger may take.
        out_dir: the folder the challenger's bundle is written under.
        progress: receives short progress messages.

    Returns:
        The report; ``decided_by`` names the gate that refused, or says that all passed.

    Raises:
        ConfigError: an invalid model name. DataError / FamilyError: the challenger cannot be trained.
        RegistryError: the registry fails.
    """
    step = progress or (lambda _msg: None)
    if data.task == "embedding":
        raise DataError(
            "nlpops does not retrain embedding models: an encoder is used as it is. A classifier over it (nlpops "
            "train --family transformer) has a head, and that is retrained."
        )
    model_name = name or config.name
    problem = model_name_problem(model_name)
    if problem is not None:  # before anything is written: the name becomes part of a folder name
        raise ConfigError(f"{problem} Pass another --name (or set name in nlpops.yaml).")
    if test is None:
        data, test = split_dataset(data, config.data.test_size, config.data.seed)
    if not len(test):
        raise DataError("The held-out set is empty; pass --test or use more data (data.test_size).")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    out = Path(out_dir) / f"{model_name}-challenger-{stamp}"
    champion_version = registry.alias_target(model_name, alias)
    champion = registry.get(model_name, champion_version) if champion_version is not None else None
    packaged = load_bundle(champion.bundle_path) if champion is not None else None
    if packaged is not None and packaged_kind(packaged) is not None:
        step(f"retraining the packaged champion on {len(data)} rows with its own library")
        bundle = retrain_packaged(packaged, data, test, out, config, name=model_name, progress=step).bundle
    else:
        step(f"training the challenger on {len(data)} rows")
        bundle = build_bundle(config, data, test, out, name=model_name, progress=step)
    challenger = registry.register(bundle.path, model_name)
    predictors = {"challenger": load_predictor(bundle.path)}
    if champion is not None:
        predictors["champion"] = load_predictor(champion.bundle_path)
    step(f"scoring on {len(test)} held-out rows")
    reports = {key: _score(p, test) for key, p in predictors.items()}
    latency = profile_p50_ms(predictors, test.texts) if champion is not None else {}
    metric = TASKS[data.task].metric
    gates = evaluate_gates(config.retraining, reports["challenger"], reports.get("champion"), latency, metric)
    failed = [g for g in gates if not g.passed]
    if not failed:
        registry.promote(model_name, challenger.version, alias)
    decided_by = failed[0].name if failed else "all gates passed"
    return RetrainReport(
        model_name,
        challenger,
        champion,
        alias,
        not failed,
        decided_by,
        gates,
        reports["challenger"],
        reports.get("champion"),
        latency,
    )


def _score(predictor: Predictor, test: Dataset) -> dict[str, Any]:
    output = predict_output(predictor, test.texts)
    return task_report(
        predictor.task, test.answers, output, predictor.labels, thresholds=predictor.thresholds, langs=test.langs
    )


def next_run(cron: str, after: datetime) -> datetime:
    """The first time after ``after`` that the cron expression fires.

    Args:
        cron: a five-field cron expression, e.g. ``"0 3 * * 0"``.
        after: a timezone-aware datetime.

    Returns:
        The next firing time (same timezone).

    Raises:
        ConfigError: the expression is invalid.
    """
    from croniter import croniter

    try:
        return croniter(cron, after).get_next(datetime)
    except (ValueError, KeyError) as exc:
        raise ConfigError(
            f'Invalid cron expression "{cron}": {str(exc).rstrip(".")}. '
            'Use five fields, e.g. "0 3 * * 0" (Sundays at 03:00).'
        ) from exc


def run_schedule(
    cron: str,
    job: Callable[[], Any],
    *,
    max_runs: int | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], Any] = time.sleep,
) -> int:
    """Run ``job`` each time ``cron`` fires, forever (or ``max_runs`` times); a long-lived scheduler.

    Args:
        cron: the cron expression (``retraining.schedule`` or ``--schedule``).
        job: what to run (e.g. a retrain, or a drift check then a retrain).
        max_runs: stop after this many runs; None: until interrupted.
        clock: the current time (timezone-aware).
        sleep: waits a number of seconds (tests pass their own).

    Returns:
        The number of runs.

    Raises:
        ConfigError: the cron expression is invalid.
    """
    runs = 0
    due = next_run(cron, clock())
    while max_runs is None or runs < max_runs:
        wait_s = (due - clock()).total_seconds()
        if wait_s > 0:
            sleep(wait_s)
            continue
        job()
        runs += 1
        due = next_run(cron, max(clock(), due))
    return runs


__all__ = [
    "Gate",
    "RetrainReport",
    "evaluate_gates",
    "load_training_data",
    "next_run",
    "profile_p50_ms",
    "retrain",
    "run_schedule",
]
