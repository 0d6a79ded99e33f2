"""Capacity: replicas, CPU and memory per replica, and batch run time, from the measured profile.

replicas = ceil(peak requests/s x texts per request / (throughput per replica at the SLO x utilisation
target)) + spares for the availability target. Throughput per replica at the SLO is the best measured batch
size whose batch p95 stays within the share of the objective that micro-batching may use. Every step is
written out in ``arithmetic``.
"""

from __future__ import annotations

import math
from typing import Any

from nlpops.advisor.rules import AdvisorRulesSettings

_MIB = 1 << 20


def throughput_at_slo(
    profile: dict[str, Any], latency_factor: float, slo_ms: float, share: float
) -> tuple[float, int, bool]:
    """``(texts/s, batch size, reachable)``: the best measured batch size whose p95 fits ``slo_ms x share``."""
    budget_ms = slo_ms * share
    rows = sorted(profile["throughput"], key=lambda r: r["batch_size"])
    fitting = [r for r in rows if r["batch_latency_ms"]["p95"] * latency_factor <= budget_ms]
    if fitting:
        best = max(fitting, key=lambda r: r["texts_per_s"])
        return best["texts_per_s"] / latency_factor, int(best["batch_size"]), True
    first = rows[0]
    return first["texts_per_s"] / latency_factor, int(first["batch_size"]), False


def spare_replicas(availability: float, settings: AdvisorRulesSettings) -> int:
    """Extra replicas for the availability target (the largest matching rule)."""
    extras = [s.extra for s in settings.availability_spares if availability >= s.at_least]
    return max(extras, default=0)


def replicas_for(peak_rps: float, per_replica_rps: float, utilisation: float, spares: int) -> int:
    """Load-driven replicas plus spares; at least one replica whenever there is traffic."""
    if peak_rps <= 0:
        return 0
    return max(1, math.ceil(peak_rps / (per_replica_rps * utilisation))) + spares


def plan_capacity(
    answers: dict[str, Any],
    profile: dict[str, Any],
    latency_factor: float,
    topology: str | None,
    mode: str | None,
    settings: AdvisorRulesSettings,
) -> dict[str, Any]:
    """Capacity for the chosen runtime (``latency_factor`` relative to the measured one) and topology.

    Returns:
        The capacity figures and the arithmetic behind them, as lines of text.
    """
    traffic = answers["traffic"]
    slo = float(answers["latency"]["p95_ms"])
    peak_requests = float(traffic["peak_rps"]) if mode != "batch" else 0.0
    texts_per_request = float(traffic.get("texts_per_request", 1.0))
    peak = peak_requests * texts_per_request  # texts/s: what the profile's throughput counts
    util = settings.utilisation_target
    per_replica, batch_size, reachable = throughput_at_slo(
        profile, latency_factor, slo, settings.slo_share_for_batching
    )
    spares = spare_replicas(float(traffic["availability"]), settings)
    languages = list(answers["languages"]["languages"]) if topology == "per-language" else []
    lines = []
    if texts_per_request != 1.0:
        lines.append(f"peak load: {peak_requests:g} req/s x {texts_per_request:g} texts per request = {peak:g} texts/s")
    lines += [
        f"throughput per replica at the SLO: batch size {batch_size}, {per_replica:.1f} texts/s "
        f"(batch p95 within {settings.slo_share_for_batching:g} x {slo:g} ms"
        + ("" if reachable else "; NOT reachable even at batch 1")
        + ")",
        f"usable per replica: {per_replica:.1f} x utilisation {util:g} = {per_replica * util:.1f} texts/s",
        f"spares for availability {traffic['availability']:g}: +{spares}",
    ]
    if languages:
        share = peak / len(languages)
        each = replicas_for(share, per_replica, util, spares)
        replicas = each * len(languages)
        lines.append(
            f"per language: ceil({share:g} / {per_replica * util:.1f}) + {spares} = {each} replicas; "
            f"x {len(languages)} languages = {replicas}"
        )
    else:
        replicas = replicas_for(peak, per_replica, util, spares)
        load = replicas - spares if replicas else 0
        lines.append(f"replicas: ceil({peak:g} / {per_replica * util:.1f}) = {load}, + {spares} spares = {replicas}")
    rss = float(profile["peak_rss_bytes"])
    memory_mib = int(math.ceil(rss * settings.memory_headroom / _MIB / 64.0) * 64)
    cpu = int(profile.get("machine", {}).get("threads", 1))
    lines.append(f"memory request: peak RSS {rss / _MIB:.0f} MiB x {settings.memory_headroom:g} -> {memory_mib} MiB")
    lines.append(f"CPU request: {cpu} (the profile measured with {cpu} math thread(s))")
    out: dict[str, Any] = {
        "peak_rps": peak_requests,
        "texts_per_request": texts_per_request,
        "peak_texts_per_s": peak,
        "slo_p95_ms": slo,
        "slo_reachable": reachable,
        "batch_size": batch_size,
        "throughput_per_replica_rps": round(per_replica, 3),
        "utilisation_target": util,
        "spare_replicas": spares,
        "replicas": replicas,
        "replicas_per_language": (replicas // len(languages)) if languages else None,
        "cpu_request": cpu,
        "memory_request_mib": memory_mib,
        "memory_limit_mib": memory_mib * 2,
        "batch": None,
    }
    rows = int(traffic.get("batch_rows_per_run") or 0)
    if mode in ("batch", "both") and rows > 0:
        best = max(profile["throughput"], key=lambda r: r["texts_per_s"])
        rate = best["texts_per_s"] / latency_factor
        hours = rows / rate / 3600.0
        workers = max(1, math.ceil(hours / settings.batch_window_hours))
        lines.append(
            f"batch: {rows} rows / {rate:.1f} texts/s (batch size {best['batch_size']}) = {hours:.2f} h on one worker; "
            f"{workers} worker(s) finish within {settings.batch_window_hours:g} h"
        )
        out["batch"] = {
            "rows_per_run": rows,
            "texts_per_s_per_worker": round(rate, 3),
            "batch_size": int(best["batch_size"]),
            "hours_per_run_one_worker": round(hours, 4),
            "workers_for_window": workers,
            "window_hours": settings.batch_window_hours,
        }
    out["arithmetic"] = lines
    return out


__all__ = ["plan_capacity", "replicas_for", "spare_replicas", "throughput_at_slo"]
