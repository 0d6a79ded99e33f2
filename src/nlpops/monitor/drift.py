"""Drift: live statistics against a bundle's reference statistics, one fitting test per statistic.

Text length and confidence are ordered histograms: a two-sample Kolmogorov-Smirnov test on the binned
distributions plus the population stability index (PSI). Predicted labels and the language mix are
categories: a chi-squared test of homogeneity plus PSI. For vocabulary-based models (TF-IDF) the word tokens
in and out of the vocabulary are two categories too (statistic ``oov``), when the bundle's reference counted
them. A statistic has drifted when its PSI is at least
``psi`` *and* its test's p-value is below ``p_value`` (the first says the change is large, the second that
it is not sampling noise). Each language with enough live texts is also compared with its own reference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from nlpops.checklist import MonitoringSettings

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


def compare_statistics(
    reference: Mapping[str, Any], live: Mapping[str, Any], thresholds: DriftThresholds, lang: str = ALL_LANGUAGES
) -> list[StatisticDrift]:
    """Compare length, confidence, predicted-label (and OOV) statistics of one scope (all texts or one language).

    Args:
        reference: reference statistics (``length_hist``, ``confidence_hist``, ``label_counts``, ``rows``,
            and ``tokens`` / ``oov_tokens`` for vocabulary-based models).
        live: live statistics of the same shape.
        thresholds: the drift thresholds.
        lang: the scope's language, or ``"*"`` for all texts.

    Returns:
        One check per statistic both sides have.
    """
    checks: list[StatisticDrift] = []
    ref_rows, live_rows = int(reference.get("rows", 0)), int(live.get("rows", 0))

    def check(statistic: str, test: str, score: float, stat: float, p: float) -> StatisticDrift:
        drifted = live_rows >= thresholds.min_rows and score >= thresholds.psi and p < thresholds.p_value
        return StatisticDrift(statistic, lang, test, score, stat, p, ref_rows, live_rows, drifted)

    for statistic in ("length_hist", "confidence_hist"):
        if reference.get(statistic) and live.get(statistic):
            d, p = ks_binned(reference[statistic], live[statistic])
            checks.append(
                check(statistic.removesuffix("_hist"), "ks", psi(reference[statistic], live[statistic]), d, p)
            )
    if reference.get("label_counts") and live.get("label_counts"):
        chi2, p, score = chi_squared(reference["label_counts"], live["label_counts"])
        checks.append(check("label", "chi2", score, chi2, p))
    if reference.get("tokens") and live.get("tokens"):
        # Word tokens in and out of the vocabulary: a 2x2 chi-squared test and the PSI of the two shares.
        chi2, p, score = chi_squared(_vocabulary_split(reference), _vocabulary_split(live))
        checks.append(check("oov", "chi2", score, chi2, p))
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
) -> DriftReport:
    """Compare a version's live statistics with its reference: overall, language mix, and per language.

    Args:
        reference: the bundle's ``manifest.reference``.
        live: :meth:`~nlpops.monitor.live.LiveStats.snapshot` (or :func:`~nlpops.monitor.live.merge_windows`).
        thresholds: the drift thresholds.
        model: the model name (for the report).
        version: the version (for the report).
        languages: the bundle's languages, used as the reference language mix when the reference has none.

    Returns:
        The report; its ``status`` is the verdict.
    """
    checks = compare_statistics(reference, live, thresholds)
    ref_langs = dict(reference.get("languages") or {})
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
            checks.extend(compare_statistics(ref, stats, thresholds, lang))
    return DriftReport(model, version, int(live.get("rows", 0)), thresholds, checks)


__all__ = [
    "ALL_LANGUAGES",
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
