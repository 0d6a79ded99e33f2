"""Capacity: the shape of a replica (threads, memory), how many, and batch workers, from measured figures only.

- **Replica shape.** For each measured thread count (1, 2, 4) the best batch size whose batch p95 stays within
  the share of the objective micro-batching may use gives the texts/s of one replica. Shapes that meet that
  budget compete on texts/s per CPU (larger replicas win near-ties: fewer replicas to run); when no shape
  meets it, the fastest is taken and the plan warns. The choice never depends on the load, so more load never
  needs fewer replicas.
- **Replicas.** ``ceil(peak texts/s / (texts/s per replica x utilisation target))`` + spares for the
  availability target; an autoscaled platform gets a floor for the average load
  (``traffic.average_rps``) plus the spares, so a burst of peak / average is visible.
- **Per language.** With one service per language, each language gets its share of the traffic
  (``languages.traffic_shares``, else equal) and is sized with its own model's figures when the profile
  measured them (a model set), else the whole model's.
- **Memory.** The chosen runtime's peak memory at the chosen thread count x headroom.
- **Batch.** Hours on one worker at the best texts/s per CPU, and the workers that finish within
  ``traffic.batch_window_hours``.
- **Payload.** An embedding service answers a vector per text: ``dim x 4`` bytes of float32, ``4 ceil(dim x 4 /
  3)`` in base64, at most 16 bytes per number as JSON numbers; times the peak texts/s, the egress of one service.

A runtime the profile did not measure (the GPU without a GPU here, an estimate without a reference) is not
sized at all: the capacity says why, and ``nlpops deploy`` refuses it.
"""

from __future__ import annotations

import math
from typing import Any

from nlpops.advisor.rules import AdvisorRulesSettings
from nlpops.advisor.runtimes import is_measured, memory_mb, runtime_entry, thread_figures

_MIB = 1 << 20
_MB = 1_000_000
AUTOSCALED = ("kubernetes", "ray", "managed", "serverless")
_NEAR_TIE = 0.95


def replica_shapes(entry: dict[str, Any], slo_ms: float, share: float) -> list[dict[str, Any]]:
    """One candidate shape per measured thread count: texts/s of one replica at the SLO, and whether it fits."""
    budget_ms = slo_ms * share
    shapes = []
    for threads, figures in thread_figures(entry).items():
        rows = sorted(figures["throughput"], key=lambda r: r["batch_size"])
        fitting = [r for r in rows if float(r["batch_latency_ms"]["p95"]) <= budget_ms]
        best = max(fitting, key=lambda r: r["texts_per_s"]) if fitting else rows[0]
        shapes.append(
            {
                "threads": threads,
                "texts_per_s": float(best["texts_per_s"]),
                "batch_size": int(best["batch_size"]),
                "reachable": bool(fitting),
                "p95_ms": float(figures["latency_ms"]["p95"]),
                "memory_mb": memory_mb(entry, threads),
                "tokens_per_text": best.get("tokens_per_text"),
            }
        )
    return shapes


def choose_shape(shapes: list[dict[str, Any]]) -> dict[str, Any]:
    """The replica shape: among those within the latency budget the most texts/s per CPU (a larger replica wins
    when it is within 5 % of that); when none is, the lowest p95."""
    reachable = [s for s in shapes if s["reachable"]]
    if not reachable:
        return min(shapes, key=lambda s: (s["p95_ms"], -s["texts_per_s"]))
    best = max(s["texts_per_s"] / s["threads"] for s in reachable)
    near = [s for s in reachable if s["texts_per_s"] / s["threads"] >= _NEAR_TIE * best]
    return max(near, key=lambda s: s["threads"])


def spare_replicas(availability: float, settings: AdvisorRulesSettings) -> int:
    """Extra replicas for the availability target (the largest matching rule)."""
    extras = [s.extra for s in settings.availability_spares if availability >= s.at_least]
    return max(extras, default=0)


def replicas_for(peak_rps: float, per_replica_rps: float, utilisation: float, spares: int) -> int:
    """Load-driven replicas plus spares; at least one replica whenever there is traffic."""
    if peak_rps <= 0:
        return 0
    return max(1, math.ceil(peak_rps / (per_replica_rps * utilisation))) + spares


def _memory_mib(mb: float, settings: AdvisorRulesSettings) -> int:
    return int(math.ceil(mb * _MB * settings.memory_headroom / _MIB / 64.0) * 64)


def _shares(answers: dict[str, Any], languages: list[str]) -> tuple[dict[str, float], bool]:
    declared = answers["languages"].get("traffic_shares") or {}
    if declared:
        return {lang: float(declared.get(lang, 0.0)) for lang in languages}, True
    return {lang: 1.0 / len(languages) for lang in languages}, False


def _size_service(
    label: str,
    entry: dict[str, Any],
    load: dict[str, float],
    context: dict[str, Any],
    lines: list[str],
) -> dict[str, Any]:
    """Shape, replicas, floor and memory of one service carrying ``load`` (peak and average texts/s)."""
    settings: AdvisorRulesSettings = context["settings"]
    slo, util, spares = context["slo"], settings.utilisation_target, context["spares"]
    shapes = replica_shapes(entry, slo, settings.slo_share_for_batching)
    shape = choose_shape(shapes)
    budget = slo * settings.slo_share_for_batching
    for s in shapes:
        fit = f"batch {s['batch_size']} within {budget:g} ms" if s["reachable"] else "NOT within the budget"
        mark = "  <- chosen" if s is shape else ""
        per_token = ""
        if s["tokens_per_text"]:  # entity models: the cost is per token; longer live texts mean fewer texts/s
            tokens = float(s["tokens_per_text"])
            per_token = f" = {s['texts_per_s'] * tokens:.0f} tokens/s at {tokens:.1f} tokens per profiled text"
        lines.append(
            f"{label}{s['threads']} thread(s): {s['texts_per_s']:.1f} texts/s per replica{per_token} ({fit}), "
            f"{s['texts_per_s'] / s['threads']:.1f} per CPU{mark}"
        )
    rate = shape["texts_per_s"]
    replicas = replicas_for(load["peak"], rate, util, spares)
    floor = replicas_for(load["average"], rate, util, spares) if context["autoscaled"] else replicas
    floor = min(max(floor, 1 + spares if replicas else 0), replicas)
    lines.append(
        f"{label}replicas: ceil({load['peak']:g} / ({rate:.1f} x {util:g})) + {spares} spares = {replicas}"
        + (
            f"; floor for the average {load['average']:g} texts/s: {floor}"
            if context["autoscaled"] and replicas
            else ""
        )
    )
    memory = shape["memory_mb"] or 0.0
    return {
        "threads": shape["threads"],
        "batch_size": shape["batch_size"],
        "reachable": shape["reachable"],
        "texts_per_s_per_replica": round(rate, 3),
        "replicas": replicas,
        "min_replicas": floor,
        "memory_request_mib": _memory_mib(memory, settings),
        "peak_texts_per_s": load["peak"],
        "p95_ms": shape["p95_ms"],
    }


def _batch(
    rows: int, window: float, entry: dict[str, Any], settings: AdvisorRulesSettings, lines: list[str]
) -> dict[str, Any]:
    if rows <= 0:
        lines.append("batch: rows per run not answered (traffic.batch_rows_per_run: 0): workers cannot be sized")
        return {"sized": False, "rows_per_run": 0, "window_hours": window}
    best = max(
        (
            (float(row["texts_per_s"]) / threads, threads, row)
            for threads, figures in thread_figures(entry).items()
            for row in figures["throughput"]
        ),
        key=lambda item: (item[0], -item[1]),
    )
    _, threads, row = best
    rate = float(row["texts_per_s"])
    hours = rows / rate / 3600.0
    workers = max(1, math.ceil(hours / window))
    lines.append(
        f"batch: {rows} rows / {rate:.1f} texts/s ({threads} thread(s), batch size {row['batch_size']}) = "
        f"{hours:.2f} h on one worker"
    )
    lines.append(
        f"batch: ceil({hours:.2f} h / window {window:g} h) = {workers} worker(s), {hours / workers:.2f} h each"
    )
    return {
        "sized": True,
        "rows_per_run": rows,
        "threads": threads,
        "texts_per_s_per_worker": round(rate, 3),
        "batch_size": int(row["batch_size"]),
        "hours_per_run_one_worker": round(hours, 4),
        "workers_for_window": workers,
        "wall_hours": round(hours / workers, 4),
        "window_hours": window,
        "memory_request_mib": _memory_mib(memory_mb(entry, threads) or 0.0, settings),
    }


_JSON_NUMBER_BYTES = 16  # the longest shortest-form float32 and its comma: "-1.2345678e-38,"


def vector_payload(dim: int, peak_texts_per_s: float, lines: list[str]) -> dict[str, Any]:
    """The bytes of one answered vector (float32, base64, JSON numbers at most) and the egress at peak."""
    raw, base64_bytes, json_bytes = dim * 4, 4 * math.ceil(dim * 4 / 3), dim * _JSON_NUMBER_BYTES
    lines.append(
        f"payload: a {dim}-d vector per text = {raw} bytes of float32, {base64_bytes} in base64 "
        f'("encoding": "base64"), at most {json_bytes} as JSON numbers; at {peak_texts_per_s:g} texts/s '
        f"{peak_texts_per_s * base64_bytes / _MB:.2f} MB/s base64, at most {peak_texts_per_s * json_bytes / _MB:.2f} "
        "MB/s as JSON"
    )
    return {
        "dim": dim,
        "float32_bytes": raw,
        "base64_bytes": base64_bytes,
        "json_bytes_max": json_bytes,
        "peak_base64_mb_per_s": round(peak_texts_per_s * base64_bytes / _MB, 4),
        "peak_json_mb_per_s_max": round(peak_texts_per_s * json_bytes / _MB, 4),
    }


def plan_capacity(
    answers: dict[str, Any],
    profile: dict[str, Any],
    runtime: str | None,
    chosen: dict[str, str | None],
    settings: AdvisorRulesSettings,
) -> dict[str, Any]:
    """Capacity for the chosen runtime, platform, topology and mode.

    Returns:
        The capacity figures and the arithmetic behind them, as lines of text; ``sized`` False (and no replica
        figures) when the chosen runtime has no measured figures.
    """
    traffic = answers["traffic"]
    mode = chosen.get("mode")
    entry = runtime_entry(profile, runtime) if runtime else {"status": "unmeasured", "reason": "no runtime chosen"}
    out: dict[str, Any] = {"runtime": runtime, "gpu_request": 1 if runtime == "gpu" else 0}
    if not is_measured(entry):
        reason = entry.get("reason") or "its figures were not measured"
        out.update({"sized": False, "reason": f"{runtime} is not sized: {reason}", "batch": None})
        out["arithmetic"] = [out["reason"], "Profile the trained bundle where it will run: nlpops profile REF"]
        return out
    online = mode != "batch"
    texts_per_request = float(traffic.get("texts_per_request", 1.0))
    peak = float(traffic["peak_rps"]) * texts_per_request if online else 0.0
    average = min(float(traffic.get("average_rps", 0.0)) * texts_per_request, peak)
    spares = spare_replicas(float(traffic["availability"]), settings) if online and peak > 0 else 0
    autoscaled = chosen.get("platform") in AUTOSCALED
    context = {"settings": settings, "slo": float(answers["latency"]["p95_ms"]), "spares": spares}
    context["autoscaled"] = autoscaled
    lines: list[str] = []
    if texts_per_request != 1.0 and online:
        lines.append(
            f"peak load: {traffic['peak_rps']:g} req/s x {texts_per_request:g} texts per request = {peak:g} texts/s"
        )
    services: dict[str, dict[str, Any]] = {}
    languages = list(answers["languages"]["languages"]) if chosen.get("topology") == "per-language" else []
    if online and peak > 0:
        lines.append(f"spares for availability {traffic['availability']:g}: +{spares}")
        if languages:
            shares, declared = _shares(answers, languages)
            measured_languages = profile.get("languages") or {}
            for lang in languages:
                own = (measured_languages.get(lang) or {}).get("runtimes", {}).get(runtime or "")
                lang_entry = own if own and is_measured(own) else entry
                whose = "its own model" if lang_entry is own else "the whole model"
                load = {"peak": peak * shares[lang], "average": average * shares[lang]}
                lines.append(
                    f"{lang}: {shares[lang]:.0%} of the traffic ({'declared' if declared else 'equal shares'}) = "
                    f"{load['peak']:g} texts/s at peak, sized with {whose}"
                )
                services[lang] = _size_service(f"{lang}: ", lang_entry, load, context, lines)
        else:
            services[""] = _size_service("", entry, {"peak": peak, "average": average}, context, lines)
        if chosen.get("platform") is None:
            lines.append("no platform was chosen (every option is excluded): sized as if nothing autoscaled")
        elif autoscaled:
            burst = f"{peak / average:.1f}x" if average > 0 else "unbounded (average_rps 0)"
            lines.append(
                f"burst: peak {peak:g} / average {average:g} texts/s = {burst}; "
                "autoscaling between the floor and the replicas"
            )
        else:
            lines.append(f"{chosen.get('platform')} does not autoscale: the replicas carry the peak at all times")
    # One figure for every service's pods (the largest); per-language figures stay under "languages".
    main = max(services.values(), key=lambda s: (s["memory_request_mib"], s["threads"])) if services else None
    if main is not None:
        main = {**main, "threads": max(s["threads"] for s in services.values())}
    replicas = sum(s["replicas"] for s in services.values())
    batch = None
    if mode in ("batch", "both"):
        window = float(traffic.get("batch_window_hours", 6.0))
        batch = _batch(int(traffic.get("batch_rows_per_run") or 0), window, entry, settings, lines)
    dim = int(profile.get("bundle", {}).get("dim") or 0)  # an embedding model's vectors
    payload = vector_payload(dim, peak, lines) if dim and online else None
    cpu = main["threads"] if main else int((batch or {}).get("threads") or 1)
    memory_mib = (
        main["memory_request_mib"]
        if main
        else int((batch or {}).get("memory_request_mib") or _memory_mib(memory_mb(entry) or 0.0, settings))
    )
    lines.append(
        f"CPU request: {cpu} (the measured thread count of the chosen shape); memory request: peak memory of "
        f"{runtime} x {settings.memory_headroom:g} -> {memory_mib} MiB"
    )
    first = main or {}
    out.update(
        {
            "sized": True,
            "peak_rps": float(traffic["peak_rps"]) if online else 0.0,
            "average_rps": float(traffic.get("average_rps", 0.0)) if online else 0.0,
            "texts_per_request": texts_per_request,
            "peak_texts_per_s": peak,
            "slo_p95_ms": context["slo"],
            "slo_reachable": all(s["reachable"] for s in services.values()) if services else True,
            "threads": cpu,
            "batch_size": first.get("batch_size"),
            "throughput_per_replica_rps": first.get("texts_per_s_per_replica"),
            "utilisation_target": settings.utilisation_target,
            "spare_replicas": spares,
            "replicas": replicas,
            "min_replicas": sum(s["min_replicas"] for s in services.values()),
            "replicas_per_language": max(s["replicas"] for s in services.values()) if languages and services else None,
            "languages": {k: v for k, v in services.items() if k} or None,
            "cpu_request": cpu,
            "memory_request_mib": memory_mib,
            "memory_limit_mib": memory_mib * 2,
            "batch": batch,
            **({"payload": payload} if payload is not None else {}),
            "arithmetic": lines,
        }
    )
    return out


__all__ = [
    "AUTOSCALED",
    "choose_shape",
    "plan_capacity",
    "replica_shapes",
    "replicas_for",
    "spare_replicas",
    "vector_payload",
]
