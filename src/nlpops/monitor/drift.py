"""Drift: live statistics against a bundle's reference statistics, one fitting test per statistic.

Text length and confidence are ordered histograms: a two-sample Kolmogorov-Smirnov test on the binned
distributions plus the population stability index (PSI). Predicted labels and the language mix are
categories: a chi-squared test of homogeneity plus PSI. For vocabulary-based models (TF-IDF) the word tokens
in and out of the vocabulary are two categories too (statistic ``oov``), when the bundle's reference counted
them. A statistic has drifted when its PSI is at least
``psi`` *and* its test's p-value is below ``p_value`` (the first says the change is large, the second that
it is not sampling noise). Each language with enough live texts is also compared with its own reference.

Which statistics are compared is the task's (:data:`nlpops.tasks.TASKS`, ``drift_statistics``), each by its
kind (:data:`COMPARERS`): multi-label models add the labels per text (``cardinality``, binned) and the rate of
each label (``label_rate:<label>``: a 2x2 chi-squared test of texts with and without it, and PSI); embedding
models compare the mean of their vectors (``embedding_mean``: Hotelling's two-sample test on a random projection,
:mod:`nlpops.monitor.mean_shift`, whose ``psi`` is the squared Mahalanobis distance of the live mean from the
reference mean beyond what sampling explains).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from nlpops.checklist import MonitoringSettings
from nlpops.monitor.mean_shift import hotelling_two_sample
from nlpops.tasks import TASKS, DriftStatistic, TaskName

ALL_LANGUAGES = "*"
_EPS = 1e-4
DriftStatus = Literal["drift", "no_drift", "insufficient_data"]


@dataclass(frozen=True)
class DriftThresholds:
    """When a statistic counts as drifted, and how many live texts a verdict needs."""

    psi: float = 0.2
    p_value: float = 0.01
    min_rows: int = 100

    @classmethod
    def from_settings(cls, settings: MonitoringSettings) -> DriftThresholds:
        """The thresholds of the ``monitoring`` section (``drift_psi``, ``drift_p_value``, ``drift_min_rows``)."""
        return cls(settings.drift_psi, settings.drift_p_value, settings.drift_min_rows)


@dataclass(frozen=True)
class StatisticDrift:
    """The comparison of one statistic, overall (``lang == "*"``) or for one language."""

    statistic: str
    lang: str
    test: str
    psi: float
    test_statistic: float
    p_value: float
    reference_rows: int
    live_rows: int
    drifted: bool


@dataclass(frozen=True)
class DriftReport:
    """Every comparison of one model version's live statistics with its reference."""

    model: str
    version: str
    live_rows: int
    thresholds: DriftThresholds
    checks: list[StatisticDrift]

    @property
    def status(self) -> DriftStatus:
        """``drift`` if any check drifted, ``insufficient_data`` below ``min_rows`` live texts, else ``no_drift``."""
        if self.live_rows < self.thresholds.min_rows:
            return "insufficient_data"
        return "drift" if any(c.drifted for c in self.checks) else "no_drift"

    @property
    def drifted(self) -> list[StatisticDrift]:
        """The checks that drifted."""
        return [c for c in self.checks if c.drifted]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``nlpops monitor --json``, ``/v1/status``)."""
        return {
            "model": self.model,
            "version": self.version,
            "status": self.status,
            "live_rows": self.live_rows,
            "thresholds": asdict(self.thresholds),
            "drifted": sorted({f"{c.statistic}[{c.lang}]" for c in self.drifted}),
            "checks": [asdict(c) for c in self.checks],
        }


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of two count vectors over the same bins.

    Args:
        expected: reference counts.
        actual: live counts.

    Returns:
        ``sum((a - e) * ln(a / e))`` over bin shares (smoothed so empty bins stay finite); 0 for identical shares.
    """
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.sum() <= 0 or a.sum() <= 0:
        return 0.0
    e = np.maximum(e / e.sum(), _EPS)
    a = np.maximum(a / a.sum(), _EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_binned(expected: Sequence[float], actual: Sequence[float]) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test on binned samples (conservative: D is measured at bin edges).

    Args:
        expected: reference counts per ordered bin.
        actual: live counts per ordered bin.

    Returns:
        ``(D, p_value)`` with the asymptotic Kolmogorov distribution.
    """
    from scipy.stats import kstwobign

    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    n, m = e.sum(), a.sum()
    if n <= 0 or m <= 0:
        return 0.0, 1.0
    d = float(np.max(np.abs(np.cumsum(e) / n - np.cumsum(a) / m)))
    effective = math.sqrt(n * m / (n + m))
    return d, float(kstwobign.sf(d * effective))


def chi_squared(expected: Mapping[str, float], actual: Mapping[str, float]) -> tuple[float, float, float]:
    """Chi-squared test of homogeneity of two category counts, plus their PSI.

    Args:
        expected: reference count per category.
        actual: live count per category.

    Returns:
        ``(chi2, p_value, psi)``; ``(0, 1, 0)`` when fewer than two categories occur.
    """
    from scipy.stats import chi2_contingency

    keys = sorted(k for k in set(expected) | set(actual) if expected.get(k, 0) + actual.get(k, 0) > 0)
    e = [float(expected.get(k, 0)) for k in keys]
    a = [float(actual.get(k, 0)) for k in keys]
    if len(keys) < 2 or sum(e) <= 0 or sum(a) <= 0:
        return 0.0, 1.0, 0.0
    chi2, p, _, _ = chi2_contingency(np.asarray([e, a]))
    return float(chi2), float(p), psi(e, a)


Check = Callable[[str, str, float, float, float], "StatisticDrift"]
"""``(statistic, test, psi, test statistic, p-value) -> StatisticDrift`` for one scope."""
Comparer = Callable[[DriftStatistic, Mapping[str, Any], Mapping[str, Any], Check], list["StatisticDrift"]]
"""Compares one statistic of a reference and a live scope (empty when either side lacks it)."""


def _compare_hist(stat: DriftStatistic, ref: Mapping[str, Any], live: Mapping[str, Any], check: Check) -> list[Any]:
    if not ref.get(stat.key) or not live.get(stat.key):
        return []
    d, p = ks_binned(ref[stat.key], live[stat.key])
    return [check(stat.name, "ks", psi(ref[stat.key], live[stat.key]), d, p)]


def _compare_categories(
    stat: DriftStatistic, ref: Mapping[str, Any], live: Mapping[str, Any], check: Check
) -> list[Any]:
    if not ref.get(stat.key) or not live.get(stat.key):
        return []
    chi2, p, score = chi_squared(ref[stat.key], live[stat.key])
    return [check(stat.name, "chi2", score, chi2, p)]


def _compare_rates(stat: DriftStatistic, ref: Mapping[str, Any], live: Mapping[str, Any], check: Check) -> list[Any]:
    """One check per label: texts with and without it, reference against live (2x2 chi-squared and PSI)."""
    ref_counts, live_counts = ref.get(stat.key) or {}, live.get(stat.key) or {}
    ref_rows, live_rows = int(ref.get("rows", 0)), int(live.get("rows", 0))
    if not ref_counts or not live_counts or ref_rows <= 0 or live_rows <= 0:
        return []
    checks = []
    for label in sorted(ref_counts):
        with_ref, with_live = float(ref_counts.get(label, 0)), float(live_counts.get(label, 0))
        expected = {"with": with_ref, "without": max(ref_rows - with_ref, 0.0)}
        actual = {"with": with_live, "without": max(live_rows - with_live, 0.0)}
        chi2, p, score = chi_squared(expected, actual)
        checks.append(check(f"{stat.name}:{label}", "chi2", score, chi2, p))
    return checks


def _compare_vocabulary(
    stat: DriftStatistic, ref: Mapping[str, Any], live: Mapping[str, Any], check: Check
) -> list[Any]:
    if not ref.get("tokens") or not live.get("tokens"):
        return []
    # Word tokens in and out of the vocabulary: a 2x2 chi-squared test and the PSI of the two shares.
    chi2, p, score = chi_squared(_vocabulary_split(ref), _vocabulary_split(live))
    return [check(stat.name, "chi2", score, chi2, p)]


def _compare_mean(stat: DriftStatistic, ref: Mapping[str, Any], live: Mapping[str, Any], check: Check) -> list[Any]:
    ref_counts, live_counts = ref.get(stat.key) or {}, live.get(stat.key) or {}
    if not ref_counts or not live_counts:
        return []
    shift = hotelling_two_sample(
        int(ref.get("rows", 0)),
        ref_counts.get("sum") or [],
        ref_counts.get("outer") or [],
        int(live.get("rows", 0)),
        live_counts.get("sum") or [],
        live_counts.get("outer") or [],
    )
    if shift is None:
        return []
    return [check(stat.name, "hotelling_t2", shift.distance, shift.t2, shift.p_value)]


COMPARERS: dict[str, Comparer] = {
    "hist": _compare_hist,
    "categories": _compare_categories,
    "rates": _compare_rates,
    "vocabulary": _compare_vocabulary,
    "mean": _compare_mean,
}
"""The monitor's per-kind piece: how each kind of drift statistic (:class:`~nlpops.tasks.DriftStatistic`) is
tested. A task names its statistics and their kinds in :data:`nlpops.tasks.TASKS`."""


def compare_statistics(
    reference: Mapping[str, Any],
    live: Mapping[str, Any],
    thresholds: DriftThresholds,
    lang: str = ALL_LANGUAGES,
    task: TaskName = "classification",
) -> list[StatisticDrift]:
    """Compare the task's statistics of one scope (all texts or one language).

    Args:
        reference: reference statistics (``length_hist``, ``confidence_hist``, ``label_counts``, ``rows``,
            ``tokens`` / ``oov_tokens`` for vocabulary-based models, the task's own counters).
        live: live statistics of the same shape.
        thresholds: the drift thresholds.
        lang: the scope's language, or ``"*"`` for all texts.
        task: the model's task: its ``drift_statistics`` are compared, in order.

    Returns:
        One check per statistic both sides have (per label for ``rates``).
    """
    ref_rows, live_rows = int(reference.get("rows", 0)), int(live.get("rows", 0))

    def check(statistic: str, test: str, score: float, stat: float, p: float) -> StatisticDrift:
        drifted = live_rows >= thresholds.min_rows and score >= thresholds.psi and p < thresholds.p_value
        return StatisticDrift(statistic, lang, test, score, stat, p, ref_rows, live_rows, drifted)

    checks: list[StatisticDrift] = []
    for statistic in TASKS[task].drift_statistics:
        checks.extend(COMPARERS[statistic.kind](statistic, reference, live, check))
    return checks


def _vocabulary_split(stats: Mapping[str, Any]) -> dict[str, float]:
    oov = float(stats.get("oov_tokens", 0))
    return {"in_vocabulary": float(stats["tokens"]) - oov, "out_of_vocabulary": oov}


def detect_drift(
    reference: Mapping[str, Any],
    live: Mapping[str, Any],
    thresholds: DriftThresholds,
    *,
    model: str,
    version: str,
    languages: Sequence[str] = (),
    task: TaskName = "classification",
) -> DriftReport:
    """Compare a version's live statistics with its reference: overall, language mix, and per language.

    Args:
        reference: the bundle's ``manifest.reference``.
        live: :meth:`~nlpops.monitor.live.LiveStats.snapshot` (or :func:`~nlpops.monitor.live.merge_windows`).
        thresholds: the drift thresholds.
        model: the model name (for the report).
        version: the version (for the report).
        languages: the bundle's languages, used as the reference language mix when the reference has none.
        task: the model's task (which statistics are compared).

    Returns:
        The report; its ``status`` is the verdict.
    """
    checks = compare_statistics(reference, live, thresholds, task=task)
    # like with like: both mixes leave out und (texts no model's language was known for); a model set's
    # reference counts the languages its reference texts are routed as, which is what live traffic records
    ref_langs = {k: v for k, v in (reference.get("languages") or {}).items() if k != "und"}
    if not ref_langs and len(languages) == 1:
        ref_langs = {languages[0]: int(reference.get("rows", 0))}
    live_langs = {k: v for k, v in (live.get("languages") or {}).items() if k != "und"}
    if ref_langs and live_langs:
        chi2, p, score = chi_squared(ref_langs, live_langs)
        rows = int(live.get("rows", 0))
        drifted = rows >= thresholds.min_rows and score >= thresholds.psi and p < thresholds.p_value
        checks.append(
            StatisticDrift(
                "language", ALL_LANGUAGES, "chi2", score, chi2, p, int(reference.get("rows", 0)), rows, drifted
            )
        )
    ref_by_lang = reference.get("by_language") or {}
    for lang, stats in sorted((live.get("by_language") or {}).items()):
        if len(live_langs) < 2 or stats.get("rows", 0) < thresholds.min_rows:
            continue  # one language only: the overall checks already are that language's checks
        ref = ref_by_lang.get(lang) or (reference if set(ref_langs) == {lang} else None)
        if ref is not None:
            checks.extend(compare_statistics(ref, stats, thresholds, lang, task))
    return DriftReport(model, version, int(live.get("rows", 0)), thresholds, checks)


__all__ = [
    "ALL_LANGUAGES",
    "COMPARERS",
    "Comparer",
    "DriftReport",
    "DriftStatus",
    "DriftThresholds",
    "StatisticDrift",
    "chi_squared",
    "compare_statistics",
    "detect_drift",
    "ks_binned",
    "psi",
]
