"""Facts the rules read: the checklist answers, the measured profile, and figures derived from both.

Fact names are dotted: ``traffic.peak_rps`` (an answer), ``profile.latency_p95_ms`` (measured),
``languages.count`` (derived), ``settings.*`` (from the rules file) and per option ``option.*``
(e.g. ``option.slo_ratio`` = p95 objective / the latency expected for that option).
"""

from __future__ import annotations

import math
import re
from typing import Any

from nlpops.advisor.rules import Condition, RuleBook
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


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def measured_runtime_option(profile: dict[str, Any]) -> str:
    """Which runtime option the profile measured (the base the other options' latencies derive from)."""
    bundle = profile["bundle"]
    if profile.get("gpu", {}).get("used"):
        return "gpu"
    if bundle.get("runtime") == "onnx":
        return "onnx-int8-cpu" if bundle.get("quantized") else "onnx-cpu"
    return "native-cpu"


def runtime_estimates(profile: dict[str, Any], book: RuleBook) -> dict[str, dict[str, float]]:
    """Expected p95 latency, throughput factor and footprint for each runtime option.

    The measured runtime keeps its measured figures; the others are derived from them with the option's
    ``latency_factor`` for the model family (rules.yaml), and their footprints come from the measured
    installed sizes (ONNX runtime, the bundle's own requirements).
    """
    family = str(profile["bundle"].get("family", "tfidf"))
    measured = measured_runtime_option(profile)
    options = book.dimensions["runtime"].options
    base_factor = options[measured].latency_factor.get(family, 1.0) if measured in options else 1.0
    p95 = float(profile["latency_ms"]["p95"])
    footprint = profile["footprint"]
    onnx_mb = footprint.get("onnx", {}).get("bytes", 0) / _MB
    own_mb = footprint.get("runtime", {}).get("bytes", 0) / _MB
    native_mb = book.settings.native_footprint_mb.get(family, own_mb) if measured.startswith("onnx") else own_mb
    sizes = {"onnx": onnx_mb, "native": native_mb, "gpu": native_mb * 3}
    out: dict[str, dict[str, float]] = {}
    for name, spec in options.items():
        relative = spec.latency_factor.get(family, 1.0) / base_factor
        out[name] = {
            "latency_factor": relative,
            "p95_ms": p95 * relative,
            "footprint_mb": own_mb if name == measured else sizes.get(spec.footprint or "native", native_mb),
        }
    return out


def _language_ratio(answers: dict[str, Any], profile: dict[str, Any]) -> float | None:
    counts = profile["bundle"].get("language_counts") or {}
    languages = answers["languages"]["languages"]
    if not counts or not languages:
        return None
    smallest = min(int(counts.get(lang, 0)) for lang in languages)
    return smallest / float(answers["languages"]["min_examples_per_language"])


def build_facts(answers: dict[str, Any], profile: dict[str, Any], book: RuleBook) -> dict[str, Any]:
    """Every global fact, by dotted name.

    Args:
        answers: the checklist answers (the factor sections of the config, as plain data).
        profile: a profile from :func:`nlpops.profile.profile_bundle`.
        book: the rules (for ``settings.*`` and the runtime options).

    Returns:
        Fact name -> value.
    """
    facts = _flatten({k: answers[k] for k in FACTOR_SECTIONS if k in answers})
    infra = answers["infrastructure"]
    facts["languages.count"] = len(answers["languages"]["languages"])
    facts["languages.min_examples_ratio"] = _language_ratio(answers, profile)
    facts["retraining.scheduled"] = bool(answers["retraining"].get("schedule"))
    facts["infrastructure.cloud_account"] = infra["cloud"] != "none"
    facts["infrastructure.none"] = not (
        infra["kubernetes"] or infra["serverless"] or infra["ray"] or infra["docker"] or infra["cloud"] != "none"
    )
    latency = profile["latency_ms"]
    facts.update(
        {
            "profile.latency_p50_ms": float(latency["p50"]),
            "profile.latency_p95_ms": float(latency["p95"]),
            "profile.latency_p99_ms": float(latency["p99"]),
            "profile.peak_rss_mb": profile["peak_rss_bytes"] / _MB,
            "profile.size_mb": profile.get("size_bytes", 0) / _MB,
            "profile.cold_start_s": float(profile.get("cold_start_s", 0.0)),
            "profile.footprint_mb": profile["footprint"].get("runtime", {}).get("bytes", 0) / _MB,
            "profile.gpu_present": bool(profile.get("gpu", {}).get("present", False)),
            "profile.gpu_used": bool(profile.get("gpu", {}).get("used", False)),
            "profile.family": profile["bundle"].get("family"),
        }
    )
    for key, value in book.settings.model_dump().items():
        if isinstance(value, int | float):
            facts[f"settings.{key}"] = value
    estimates = runtime_estimates(profile, book)
    available = {n: e for n, e in estimates.items() if not _runtime_excluded(n, facts, book)}
    pool = available or estimates
    facts["runtime.min_footprint_mb"] = min(e["footprint_mb"] for e in pool.values())
    facts["runtime.best_p95_ms"] = min(e["p95_ms"] for e in pool.values())
    facts["_runtime_estimates"] = estimates
    return facts


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


def _runtime_excluded(name: str, facts: dict[str, Any], book: RuleBook) -> bool:
    return any(
        c.dimension == "runtime" and name in c.options and all(holds(cond, facts) for cond in c.when)
        for c in book.constraints
    )


def option_facts(dimension: str, option: str, facts: dict[str, Any], book: RuleBook) -> dict[str, Any]:
    """The ``option.*`` facts of one option (latency expected for it, footprint headroom)."""
    slo = float(facts["latency.p95_ms"])
    spec = book.dimensions[dimension].options[option]
    out: dict[str, Any] = {}
    if dimension == "runtime":
        estimate = facts["_runtime_estimates"][option]
        out["option.p95_ms"] = estimate["p95_ms"] + spec.latency_overhead_ms
        out["option.footprint_mb"] = estimate["footprint_mb"]
        out["option.budget_ratio"] = facts["dependencies.image_size_budget_mb"] / max(estimate["footprint_mb"], 1e-3)
    elif dimension == "platform":
        out["option.p95_ms"] = facts["runtime.best_p95_ms"] + spec.latency_overhead_ms
        limit = facts["settings.serverless_package_limit_mb"] if option == "serverless" else None
        room = limit if limit is not None else facts["dependencies.image_size_budget_mb"]
        out["option.package_room"] = room / max(facts["runtime.min_footprint_mb"], 1e-3)
    if "option.p95_ms" in out:
        out["option.slo_ratio"] = slo / max(out["option.p95_ms"], 1e-6)
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
    "build_facts",
    "fact_value",
    "holds",
    "measured_runtime_option",
    "nines",
    "option_facts",
    "render_text",
    "runtime_estimates",
]
