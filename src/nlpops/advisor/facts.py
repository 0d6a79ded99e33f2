"""Facts the rules read: the checklist answers, the measured profile, and figures derived from both.

Fact names are dotted: ``traffic.peak_rps`` (an answer), ``profile.peak_rss_mb`` (measured),
``languages.count`` (derived), ``settings.*`` (from the rules file), ``platform.chosen`` (once the platform is
chosen) and per option ``option.*`` (e.g. ``option.slo_ratio`` = p95 objective / the p95 measured for that
option). A figure nobody measured is None, and a rule reading None has no effect.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from nlpops.advisor.limits import fit_problems
from nlpops.advisor.rules import Condition, RuleBook
from nlpops.advisor.runtimes import (
    best_p95_ms,
    best_rate_per_cpu,
    footprint_mb,
    is_measured,
    memory_mb,
    package_mb,
    runtime_entry,
    thread_figures,
)
from nlpops.errors import PlanError

FACTOR_SECTIONS = (
    "model",
    "languages",
    "dependencies",
    "retraining",
    "traffic",
    "latency",
    "lifecycle",
    "monitoring",
    "infrastructure",
)
_MB = 1_000_000
_CPU_RUNTIMES = ("native-cpu", "onnx-cpu", "onnx-int8-cpu")


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key not in ("examples_per_language", "traffic_shares"):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def examples_per_language(answers: dict[str, Any], profile: dict[str, Any]) -> dict[str, int | None]:
    """Examples per served language: the declared answer, else the trained bundle's count (0 when the bundle
    counted languages and this one had none), else unknown (None)."""
    declared = answers["languages"].get("examples_per_language") or {}
    counts = profile["bundle"].get("language_counts") or {}
    out: dict[str, int | None] = {}
    for lang in answers["languages"]["languages"]:
        if lang in declared:
            out[lang] = int(declared[lang])
        elif counts:
            out[lang] = int(counts.get(lang, 0))
        else:
            out[lang] = None
    return out


def traffic_shares(answers: dict[str, Any]) -> dict[str, float]:
    """Each served language's share of the traffic: declared, else equal."""
    languages = answers["languages"]["languages"]
    declared = answers["languages"].get("traffic_shares") or {}
    if declared:
        return {lang: float(declared.get(lang, 0.0)) for lang in languages}
    return {lang: 1.0 / max(1, len(languages)) for lang in languages}


def runs_per_month(schedule: str | None) -> float:
    """How often a cron schedule fires in 30 days (counted, capped at 1000); 0 without a schedule."""
    if not schedule:
        return 0.0
    from croniter import croniter

    start = datetime(2025, 1, 6)  # a Monday; any fixed start gives the same count for periodic schedules
    it = croniter(schedule, start)
    runs = 0
    while runs < 1000 and (it.get_next(datetime) - start).total_seconds() <= 30 * 86400:
        runs += 1
    return float(runs)


def rate_per_cpu_at_slo(entry: dict[str, Any], budget_ms: float | None) -> float | None:
    """Texts/s per CPU within the micro-batching budget: the best over thread counts and batch sizes, a batch
    whose p95 exceeds ``budget_ms`` counting only the share of its rate the budget leaves (rate x budget / p95),
    so the figure shrinks smoothly as the objective tightens. ``budget_ms`` None: the plain best rate (batch
    work). None: unmeasured."""
    rates = [
        float(row["texts_per_s"])
        / threads
        * (1.0 if budget_ms is None else min(1.0, budget_ms / max(float(row["batch_latency_ms"]["p95"]), 1e-9)))
        for threads, figures in thread_figures(entry).items()
        for row in figures["throughput"]
    ]
    return max(rates, default=None)


def _ratio(examples: dict[str, int | None], needed: int) -> float | None:
    known = [n for n in examples.values() if n is not None]
    if not known or len(known) < len(examples):
        return None
    return min(known) / float(needed)


def per_language_gain(profile: dict[str, Any]) -> float | None:
    """Measured macro-F1 of per-language models minus one multilingual model, both as served (the bundle's
    ``strategy_figures``); None when the bundle was not measured both ways."""
    figures = profile["bundle"].get("strategy_figures") or {}
    per_language, multilingual = figures.get("per-language"), figures.get("multilingual")
    if not isinstance(per_language, int | float) or not isinstance(multilingual, int | float):
        return None
    return float(per_language) - float(multilingual)


def build_facts(answers: dict[str, Any], profile: dict[str, Any], book: RuleBook) -> dict[str, Any]:
    """Every global fact, by dotted name.

    Args:
        answers: the checklist answers (the factor sections of the config, as plain data).
        profile: a profile (schema 2) from :func:`nlpops.profile.profile_bundle` or an estimate.
        book: the rules (for ``settings.*``).

    Returns:
        Fact name -> value (names starting with ``_`` are for the advisor's own use).
    """
    facts = _flatten({k: answers[k] for k in FACTOR_SECTIONS if k in answers})
    infra, traffic, monitoring = answers["infrastructure"], answers["traffic"], answers["monitoring"]
    examples = examples_per_language(answers, profile)
    shares = traffic_shares(answers)
    peak, average = float(traffic["peak_rps"]), float(traffic.get("average_rps", 0.0))
    facts.update(
        {
            "languages.count": len(answers["languages"]["languages"]),
            "languages.min_examples_ratio": _ratio(examples, int(answers["languages"]["min_examples_per_language"])),
            "languages.min_traffic_share": min(shares.values()) if shares else None,
            "languages.per_language_gain": per_language_gain(profile),
            "retraining.scheduled": bool(answers["retraining"].get("schedule")),
            "retraining.runs_per_month": runs_per_month(answers["retraining"].get("schedule")),
            "traffic.burst_ratio": peak / min(average, peak) if average > 0 and peak > 0 else None,
            "traffic.average_above_peak": average > peak,
            "traffic.online": traffic["mode"] != "batch",
            "traffic.batch": traffic["mode"] != "online",
            "infrastructure.cloud_account": infra["cloud"] != "none",
            "infrastructure.none": not (
                infra["kubernetes"]
                or infra["serverless"]
                or infra["ray"]
                or infra["docker"]
                or infra.get("vms")
                or infra["cloud"] != "none"
            ),
            "infrastructure.caller": infra.get("caller_language") or "unknown",
            "infrastructure.container_host": bool(infra["docker"] or infra.get("vms")),
            "monitoring.stack_wanted": bool(monitoring.get("alerting") or monitoring.get("dashboards")),
            "monitoring.dashboards_ready": bool(monitoring.get("dashboards") and infra.get("grafana")),
        }
    )
    own = runtime_entry(profile, _own_option(profile))
    estimate = profile.get("estimate")
    rates = [r for o in _CPU_RUNTIMES if (r := best_rate_per_cpu(runtime_entry(profile, o))) is not None]
    facts.update(
        {
            "profile.estimated": estimate is not None,
            "profile.reliable": (profile.get("reliability") or {}).get("reliable"),
            "profile.family": profile["bundle"].get("family"),
            "profile.bundle_runtime": profile["bundle"].get("runtime"),
            "profile.size_mb": float(profile.get("size_bytes", 0)) / _MB,
            "profile.peak_rss_mb": memory_mb(own),
            "profile.footprint_mb": footprint_mb(own),
            "profile.cold_start_s": own.get("cold_start_s"),
            "profile.latency_p95_ms": best_p95_ms(own),
            "profile.gpu_present": bool((profile.get("gpu") or {}).get("present", False)),
            "profile.gpu_used": bool((profile.get("gpu") or {}).get("used", False)),
        }
    )
    rows = int(traffic.get("batch_rows_per_run") or 0)
    best_rate = max(rates, default=None)
    hours = rows / best_rate / 3600.0 if rows and best_rate else None
    window = float(traffic.get("batch_window_hours", 6.0))
    facts.update(
        {
            "batch.texts_per_s_per_cpu": best_rate,
            "batch.cpu_hours_per_run": hours,
            "batch.workers_needed": float(max(1, math.ceil(hours / window))) if hours is not None else None,
        }
    )
    for key, value in book.settings.model_dump().items():
        if isinstance(value, int | float):
            facts[f"settings.{key}"] = value
    facts["platform.chosen"] = None
    facts["_profile"] = profile
    facts["_settings"] = book.settings
    online_budget = float(answers["latency"]["p95_ms"]) * book.settings.slo_share_for_batching
    facts["_rate_budget_ms"] = online_budget if traffic["mode"] != "batch" else None
    facts["_best_rate_per_cpu"] = None
    available = available_runtimes(facts, book)
    facts["_available_runtimes"] = available
    budget = facts["_rate_budget_ms"]
    rated = [r for o in available if (r := rate_per_cpu_at_slo(runtime_entry(profile, o), budget)) is not None]
    facts["_best_rate_per_cpu"] = max(rated, default=None)
    usable = [p for o in _CPU_RUNTIMES if o in available and (p := best_p95_ms(runtime_entry(profile, o))) is not None]
    facts["runtime.best_cpu_p95_ms"] = min(usable, default=None)
    return facts


def _own_option(profile: dict[str, Any]) -> str:
    """The runtime option of the bundle's own runtime."""
    bundle = profile["bundle"]
    if bundle.get("runtime") == "onnx":
        return "onnx-int8-cpu" if bundle.get("quantized") else "onnx-cpu"
    return "native-cpu"


def holds(condition: Condition, facts: dict[str, Any]) -> bool:
    """Whether ``fact op value`` holds; an unknown fact value (None) never satisfies a comparison."""
    left = fact_value(condition.fact, facts, "condition")
    right = fact_value(condition.value_fact, facts, "condition") if condition.value_fact else condition.value
    if condition.op == "eq":
        return bool(left == right)
    if condition.op == "ne":
        return bool(left != right)
    if condition.op == "in":
        return left in (right or [])
    if left is None or right is None:
        return False
    try:
        if condition.op == "lt":
            return bool(left < right)
        if condition.op == "le":
            return bool(left <= right)
        if condition.op == "gt":
            return bool(left > right)
        return bool(left >= right)
    except TypeError as exc:
        raise PlanError(f"Cannot compare {condition.fact}={left!r} with {right!r} ({condition.op}).") from exc


_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\-]*)(?::([^{}]*))?\}")


def render_text(template: str, facts: dict[str, Any]) -> str:
    """Fill ``{dotted.fact:spec}`` fields from ``facts``; a value that does not fit the spec is shown plainly."""

    def fill(match: re.Match[str]) -> str:
        name, spec = match.group(1), match.group(2) or ""
        if name not in facts:
            return match.group(0)
        value = facts[name]
        if value is None:
            return "unknown"
        try:
            return format(value, spec)
        except (TypeError, ValueError):
            return str(value)

    return _FIELD.sub(fill, template)


def _runtime_facts(option: str, facts: dict[str, Any], platform: str | None) -> dict[str, Any]:
    profile = facts["_profile"]
    settings = facts["_settings"]
    entry = runtime_entry(profile, option)
    p95 = best_p95_ms(entry)
    rate = rate_per_cpu_at_slo(entry, facts["_rate_budget_ms"])
    best_rate = facts["_best_rate_per_cpu"]
    package = package_mb(entry)
    problems = (
        fit_problems(platform, option, entry, float(facts["dependencies.image_size_budget_mb"]), settings)
        if platform
        else []
    )
    image = settings.base_image_mb + package if package is not None else None
    return {
        "option.status": entry.get("status"),
        "option.status_reason": entry.get("reason") or "",
        "option.measured": is_measured(entry),
        "option.p95_ms": p95,
        "option.footprint_mb": footprint_mb(entry),
        "option.image_mb": image,
        "option.budget_ratio": float(facts["dependencies.image_size_budget_mb"]) / image if image else None,
        "option.rate_ratio": rate / best_rate if rate is not None and best_rate else None,
        "option.fits_platform": not problems,
        "option.fit_problems": "; ".join(problems),
    }


def available_runtimes(facts: dict[str, Any], book: RuleBook) -> list[str]:
    """Runtime options no constraint excludes, the platform's limits aside."""
    out = []
    for option in book.dimensions["runtime"].options:
        local = {**facts, **_runtime_facts(option, facts, None)}
        if not any(
            c.dimension == "runtime" and option in c.options and all(holds(cond, local) for cond in c.when)
            for c in book.constraints
        ):
            out.append(option)
    return out


def option_facts(dimension: str, option: str, facts: dict[str, Any], book: RuleBook) -> dict[str, Any]:
    """The ``option.*`` facts of one option (its measured latency, sizes, and whether it fits)."""
    slo = float(facts["latency.p95_ms"])
    spec = book.dimensions[dimension].options[option]
    out: dict[str, Any] = {}
    if dimension == "runtime":
        out = _runtime_facts(option, facts, facts.get("platform.chosen"))
    elif dimension == "platform":
        fitting, problems, p95s = [], [], []
        for runtime in facts["_available_runtimes"]:
            local = _runtime_facts(runtime, facts, option)
            if local["option.fits_platform"]:
                fitting.append(runtime)
                if local["option.p95_ms"] is not None:
                    p95s.append(local["option.p95_ms"])
            else:
                problems.append(local["option.fit_problems"])
        out["option.fitting_runtimes"] = len(fitting)
        out["option.fit_problems"] = "; ".join(problems) if problems else "no runtime is available"
        out["option.p95_ms"] = min(p95s) + spec.latency_overhead_ms if p95s else None
    if dimension in ("runtime", "platform"):
        p95 = out.get("option.p95_ms")
        out["option.slo_ratio"] = slo / max(p95, 1e-6) if p95 is not None else None
    return out


def fact_value(name: str, facts: dict[str, Any], rule_id: str) -> Any:
    """Look a fact up; PlanError naming the rule when it does not exist."""
    if name not in facts:
        known = ", ".join(sorted(k for k in facts if not k.startswith("_")))
        raise PlanError(f'Advisor rule "{rule_id}" reads unknown fact "{name}". Known facts: {known}.')
    return facts[name]


def nines(availability: float) -> float:
    """0.99 -> 2, 0.999 -> 3."""
    return -math.log10(max(1e-12, 1.0 - availability))


__all__ = [
    "FACTOR_SECTIONS",
    "available_runtimes",
    "build_facts",
    "examples_per_language",
    "fact_value",
    "holds",
    "nines",
    "option_facts",
    "per_language_gain",
    "render_text",
    "runs_per_month",
    "traffic_shares",
]
