"""Whether a profile's figures can be trusted: how much the repeated rounds disagreed, and how busy the rest
of the machine was while measuring. Unreliable figures are kept with the reasons (``nlpops plan`` warns),
or refused under ``--strict``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MAX_SPREAD = 0.25  # rounds of one measurement may differ by this share of their median
MAX_BACKGROUND_SHARE = 0.25  # other processes may use this share of the machine's CPUs meanwhile


def _measurements(profile: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    scopes = [("", profile.get("runtimes") or {})]
    for lang, entry in (profile.get("languages") or {}).items():
        scopes.append((f"{lang}: ", entry.get("runtimes") or {}))
    for prefix, runtimes in scopes:
        for option, entry in runtimes.items():
            for threads, figures in (entry.get("threads") or {}).items():
                yield f"{prefix}{option} at {threads} thread(s)", threads, figures


def assess(
    profile: dict[str, Any], max_spread: float = MAX_SPREAD, max_background_share: float = MAX_BACKGROUND_SHARE
) -> dict[str, Any]:
    """The ``reliability`` section of a profile.

    Returns:
        ``{"reliable", "problems", "max_spread", "max_background_cpus", "thresholds"}``.
    """
    cpus = int((profile.get("machine") or {}).get("cpu_count") or 1)
    worst_spread, worst_where = 0.0, ""
    background = 0.0
    contended: list[str] = []
    for where, threads, figures in _measurements(profile):
        spreads = [float(figures["latency_ms"].get("spread", 0.0))]
        spreads += [float(row.get("spread", 0.0)) for row in figures["throughput"]]
        if max(spreads) > worst_spread:
            worst_spread, worst_where = max(spreads), where
        others = float((figures.get("machine_load") or {}).get("background_cpus", 0.0))
        background = max(background, others)
        if others + int(threads) > cpus + 0.5:
            contended.append(where)
    problems = []
    if worst_spread > max_spread:
        problems.append(
            f"repeated rounds differed by up to {worst_spread:.0%} of their median ({worst_where}; "
            f"more than {max_spread:.0%})"
        )
    if background > max_background_share * cpus:
        problems.append(f"other processes used up to {background:.1f} of the {cpus} CPUs while measuring")
    if contended:
        problems.append(f"measurements competed with other processes for the CPUs: {', '.join(contended[:4])}")
    return {
        "reliable": not problems,
        "problems": problems,
        "max_spread": round(worst_spread, 4),
        "max_background_cpus": round(background, 3),
        "thresholds": {"max_spread": max_spread, "max_background_share": max_background_share},
    }


__all__ = ["MAX_BACKGROUND_SHARE", "MAX_SPREAD", "assess"]
