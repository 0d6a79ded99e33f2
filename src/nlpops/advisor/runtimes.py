"""The measured figures of one runtime option, read from a profile: which thread counts were measured, the
best latency, throughput per CPU, memory, package and image size. Nothing here is derived from another
runtime: a runtime the profile did not measure has no figures (None), and the plan says so.
"""

from __future__ import annotations

from typing import Any

_MB = 1_000_000


def runtime_entry(profile: dict[str, Any], option: str) -> dict[str, Any]:
    """The profile's entry for ``option`` (``{"status": "unmeasured"}`` when the profile has none)."""
    entry = (profile.get("runtimes") or {}).get(option)
    if entry is None:
        return {"status": "unmeasured", "reason": f"the profile has no figures for {option}"}
    return dict(entry)


def is_measured(entry: dict[str, Any]) -> bool:
    """Whether the entry holds measured latency and throughput."""
    return entry.get("status") == "measured" and bool(entry.get("threads"))


def thread_figures(entry: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Measured figures by thread count (empty when unmeasured)."""
    if not is_measured(entry):
        return {}
    return {int(threads): figures for threads, figures in sorted(entry["threads"].items(), key=lambda i: int(i[0]))}


def best_p95_ms(entry: dict[str, Any]) -> float | None:
    """The lowest single-text p95 over the measured thread counts (None: unmeasured)."""
    figures = thread_figures(entry)
    return min((float(f["latency_ms"]["p95"]) for f in figures.values()), default=None)


def best_rate_per_cpu(entry: dict[str, Any]) -> float | None:
    """The most texts per second per CPU over thread counts and batch sizes (None: unmeasured)."""
    rates = [
        float(row["texts_per_s"]) / threads
        for threads, figures in thread_figures(entry).items()
        for row in figures["throughput"]
    ]
    return max(rates, default=None)


def memory_mb(entry: dict[str, Any], threads: int | None = None) -> float | None:
    """Peak memory of the runtime (at ``threads`` when given); for an estimate without figures, the model's
    own size (its weights must at least fit); None when nothing is known."""
    figures = thread_figures(entry)
    if threads is not None and threads in figures and figures[threads].get("peak_rss_bytes"):
        return float(figures[threads]["peak_rss_bytes"]) / _MB
    if entry.get("peak_rss_bytes"):
        return float(entry["peak_rss_bytes"]) / _MB
    if entry.get("memory_floor_bytes"):
        return float(entry["memory_floor_bytes"]) / _MB
    return None


def package_mb(entry: dict[str, Any]) -> float | None:
    """Installed size of the service, the runtime's packages and the model (what a function package holds)."""
    value = entry.get("image_bytes")
    return float(value) / _MB if value else None


def footprint_mb(entry: dict[str, Any]) -> float | None:
    """Installed size of the runtime's own packages."""
    value = (entry.get("footprint") or {}).get("bytes")
    return float(value) / _MB if value else None


__all__ = [
    "best_p95_ms",
    "best_rate_per_cpu",
    "footprint_mb",
    "is_measured",
    "memory_mb",
    "package_mb",
    "runtime_entry",
    "thread_figures",
]
