"""The plan as Markdown (``plan.md``) and the comparison of two plans (``nlpops plan --compare``)."""

from __future__ import annotations

from typing import Any

_SIGN = {"for": "+", "against": "−", "neutral": "·"}


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _contributions(option: dict[str, Any]) -> dict[str, float]:
    return {e["rule"]: e["contribution"] for e in option["evidence"] if e["rule"]}


def _option(dim: dict[str, Any], name: str | None) -> dict[str, Any] | None:
    return next((o for o in dim["options"] if o["option"] == name), None)


def compare_plans(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed between two plans, and why (the rules that moved the scores most).

    Returns:
        ``{"answers": [...], "measured": [...], "dimensions": {name: {old, new, changed, why}}, "capacity": {...}}``.
    """
    old_answers, new_answers = _flat(old["checklist"]), _flat(new["checklist"])
    answers = [
        {"path": k, "from": old_answers.get(k), "to": new_answers.get(k)}
        for k in sorted(set(old_answers) | set(new_answers))
        if old_answers.get(k) != new_answers.get(k)
    ]
    measured = []
    for key in ("profile.latency_p95_ms", "profile.peak_rss_mb", "profile.footprint_mb", "profile.cold_start_s"):
        a, b = old["facts"].get(key), new["facts"].get(key)
        if isinstance(a, int | float) and isinstance(b, int | float) and abs(b - a) > 0.1 * max(abs(a), 1e-9):
            measured.append({"fact": key, "from": a, "to": b})
    dimensions: dict[str, Any] = {}
    for name, dim in new["dimensions"].items():
        before = old["dimensions"].get(name)
        old_choice = before["chosen"] if before else None
        entry: dict[str, Any] = {
            "old": old_choice,
            "new": dim["chosen"],
            "changed": old_choice != dim["chosen"],
            "why": [],
        }
        if entry["changed"] and before is not None:
            new_w_new, old_w_new = _option(dim, dim["chosen"]), _option(dim, old_choice)
            new_w_old, old_w_old = _option(before, dim["chosen"]), _option(before, old_choice)
            if old_w_new and old_w_new["excluded"]:
                entry["why"].append(
                    f"{old_choice} is now excluded: " + "; ".join(x["reason"] for x in old_w_new["excluded"])
                )
            if all(o is not None for o in (new_w_new, old_w_new, new_w_old, old_w_old)):
                a, b = _contributions(new_w_new), _contributions(new_w_old)  # type: ignore[arg-type]
                c, d = _contributions(old_w_new), _contributions(old_w_old)  # type: ignore[arg-type]
                texts = {e["rule"]: e["text"] for e in new_w_new["evidence"] if e["rule"]}  # type: ignore[index]
                shifts = []
                for rule in set(a) | set(b) | set(c) | set(d):
                    delta = (a.get(rule, 0) - b.get(rule, 0)) - (c.get(rule, 0) - d.get(rule, 0))
                    if delta > 0.05:
                        shifts.append((delta, rule))
                for delta, rule in sorted(shifts, reverse=True)[:3]:
                    entry["why"].append(f"{rule} ({texts.get(rule, '')}) moved the balance by {delta:+.2f}")
        dimensions[name] = entry
    capacity = {
        key: {"from": old.get("capacity", {}).get(key), "to": new.get("capacity", {}).get(key)}
        for key in ("replicas", "memory_request_mib", "throughput_per_replica_rps")
        if old.get("capacity", {}).get(key) != new.get("capacity", {}).get(key)
    }
    return {"answers": answers, "measured": measured, "dimensions": dimensions, "capacity": capacity}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def render_comparison(comparison: dict[str, Any]) -> list[str]:
    """Markdown lines for a comparison."""
    lines = ["## What changed since the previous plan", ""]
    for item in comparison["answers"]:
        lines.append(f"- answer `{item['path']}`: {_fmt(item['from'])} → {_fmt(item['to'])}")
    for item in comparison["measured"]:
        lines.append(f"- measured `{item['fact']}`: {_fmt(item['from'])} → {_fmt(item['to'])}")
    for name, entry in comparison["dimensions"].items():
        if entry["changed"]:
            lines.append(f"- **{name}**: {entry['old']} → **{entry['new']}**")
            lines += [f"  - {why}" for why in entry["why"]]
        else:
            lines.append(f"- {name}: unchanged ({entry['new']})")
    for key, item in comparison["capacity"].items():
        lines.append(f"- capacity `{key}`: {_fmt(item['from'])} → {_fmt(item['to'])}")
    return [*lines, ""]


def render_markdown(plan: dict[str, Any], comparison: dict[str, Any] | None = None) -> str:
    """plan.md: checklist answers, measured facts, ranked options with evidence, capacity, warnings, what-ifs."""
    profile = plan["profile"]
    facts = plan["facts"]
    lines = [
        f"# Deployment plan for `{plan['name']}`",
        "",
        f"nlpops {plan['nlpops_version']}, {plan['created_at']}.",
        "",
    ]
    lines += ["## Decision", "", "| dimension | chosen |", "|---|---|"]
    for dim in plan["dimensions"].values():
        chosen = _option(dim, dim["chosen"])
        lines.append(f"| {dim['title']} | {chosen['title'] if chosen else 'none (all excluded)'} |")
    lines.append("")
    if plan["warnings"]:
        lines += ["## Warnings", ""] + [f"- **{w['id']}**: {w['text']}" for w in plan["warnings"]] + [""]
    if comparison is not None:
        lines += render_comparison(comparison)
    lines += ["## Checklist answers", ""]
    for section, values in plan["checklist"].items():
        shown = ", ".join(f"{k}: {_fmt(v)}" for k, v in _flat(values).items())
        lines.append(f"- **{section}**: {shown}")
    bundle = profile["bundle"]
    machine = profile.get("machine", {})
    lines += [
        "",
        "## Measured facts",
        "",
        f"Bundle `{bundle['name']}` ({bundle.get('task', 'classification')}, {bundle['family']}, "
        f"runtime {bundle['runtime']}), "
        f"measured {profile.get('measured_at', '?')} "
        f"on {machine.get('cpu_count', '?')} CPU(s), {machine.get('threads', '?')} thread(s).",
        "",
        f"- size on disk: {facts['profile.size_mb']:.2f} MB; runtime footprint: {facts['profile.footprint_mb']:.0f} MB",
        f"- cold start: {facts['profile.cold_start_s']:.2f} s; peak RSS: {facts['profile.peak_rss_mb']:.0f} MB",
        f"- latency at batch 1: p50 {facts['profile.latency_p50_ms']:.2f} ms, "
        f"p95 {facts['profile.latency_p95_ms']:.2f} ms, "
        f"p99 {facts['profile.latency_p99_ms']:.2f} ms",
        "- throughput: "
        + ", ".join(f"batch {r['batch_size']}: {r['texts_per_s']:.0f}/s" for r in profile["throughput"]),
        f"- GPU present: {facts['profile.gpu_present']}; used: {facts['profile.gpu_used']}",
        "",
    ]
    for name, dim in plan["dimensions"].items():
        lines += [f"## {dim['title']}: {dim['question']}", ""]
        lines += ["| rank | option | score | status |", "|---|---|---|---|"]
        for o in dim["options"]:
            status = (
                "**chosen**"
                if o["option"] == dim["chosen"]
                else ("excluded: " + "; ".join(x["reason"] for x in o["excluded"]) if o["excluded"] else "runner-up")
            )
            lines.append(f"| {o['rank']} | {o['title']} | {o['score']:+.2f} | {status} |")
        lines.append("")
        for o in dim["options"]:
            lines.append(f"### {o['title']} ({o['score']:+.2f})")
            lines.append("")
            for e in o["evidence"]:
                amount = f"{e['contribution']:+.2f}" if e["rule"] else "0"
                lines.append(
                    f"- {_SIGN[e['effect']]} {plan['factors'].get(e['factor'], {}).get('title', e['factor'])}: "
                    f"{e['text']} ({e['effect']}, {amount})"
                )
            lines.append("")
        changes = plan["what_would_change"].get(name, [])
        if changes:
            lines += ["**What would change the decision**", ""]
            lines += [f"- {c['option']}: {c['text']}" for c in changes]
            lines.append("")
    capacity = plan["capacity"]
    lines += [
        "## Capacity",
        "",
        f"Replicas: **{capacity['replicas']}**, CPU request {capacity['cpu_request']}, "
        f"memory request {capacity['memory_request_mib']} MiB (limit {capacity['memory_limit_mib']} MiB).",
        "",
    ]
    lines += [f"- {line}" for line in capacity["arithmetic"]] + [""]
    verified = plan.get("verified")
    if verified:
        lat = verified.get("latency_ms", {})
        lines += [
            "## Verified by load test",
            "",
            f"{verified.get('achieved_rps', 0):.1f} req/s for {verified.get('duration_s', 0):g} s against "
            f"{verified.get('url', '?')}: p50 {lat.get('p50', 0):.1f} ms, p95 {lat.get('p95', 0):.1f} ms, "
            f"p99 {lat.get('p99', 0):.1f} ms, errors {verified.get('errors', 0)}; "
            f"SLO {'held' if verified.get('slo_met') else 'NOT met'}.",
            "",
        ]
    lines += [f"Rules: {', '.join(plan['rules_sources'])}.", ""]
    return "\n".join(lines)


__all__ = ["compare_plans", "render_comparison", "render_markdown"]
