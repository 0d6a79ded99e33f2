"""The plan as Markdown (``plan.md``) and the comparison of two plans (``nlpops plan --compare``)."""

from __future__ import annotations

from typing import Any

from nlpops.advisor.defaults import applicable_answers

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
        numbers = isinstance(a, int | float) and isinstance(b, int | float)
        if (numbers and abs(b - a) > 0.1 * max(abs(a), 1e-9)) or (not numbers and (a is None) != (b is None)):
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
        for key in ("sized", "replicas", "cpu_request", "memory_request_mib", "throughput_per_replica_rps")
        if old.get("capacity", {}).get(key) != new.get("capacity", {}).get(key)
    }
    basis = {"from": old.get("basis", "measured"), "to": new.get("basis", "measured")}
    return {
        "answers": answers,
        "measured": measured,
        "dimensions": dimensions,
        "capacity": capacity,
        "basis": basis,
        "verdict": _verdict(old, new, dimensions),
    }


def _verdict(old: dict[str, Any], new: dict[str, Any], dimensions: dict[str, Any]) -> str | None:
    """For an estimated plan followed by a measured one: ``confirms`` (same choices, replicas within one) or
    ``revises``; None otherwise."""
    if not old.get("estimated") or new.get("estimated"):
        return None
    if any(entry["changed"] for entry in dimensions.values()):
        return "revises"
    a, b = old.get("capacity", {}).get("replicas"), new.get("capacity", {}).get("replicas")
    if a is None or b is None:
        return "confirms" if a == b else "revises"
    return "confirms" if abs(int(a) - int(b)) <= 1 else "revises"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) or "—"
    return "—" if value is None else str(value)


def render_comparison(comparison: dict[str, Any]) -> list[str]:
    """Markdown lines for a comparison."""
    lines = ["## What changed since the previous plan", ""]
    basis = comparison.get("basis") or {}
    if basis and basis.get("from") != basis.get("to"):
        lines.append(f"- basis: {basis.get('from')} → {basis.get('to')}")
    verdict = comparison.get("verdict")
    if verdict is not None:
        lines.append(f"- **the measured profile {verdict} the estimated plan**")
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


def decision_rows(plan: dict[str, Any]) -> list[dict[str, str]]:
    """What the report leads with, per dimension: the chosen option, its strongest reasons and the runner-up.

    Returns:
        ``[{"dimension", "chosen", "why", "runner_up"}]`` in the plan's dimension order.
    """
    rows = []
    for dim in plan["dimensions"].values():
        chosen = _option(dim, dim["chosen"])
        reasons = sorted(
            (e for e in (chosen["evidence"] if chosen else []) if e["rule"] and e["contribution"] > 0),
            key=lambda e: -e["contribution"],
        )[:2]
        why = "; ".join(
            f"{plan['factors'].get(e['factor'], {}).get('title', e['factor'])}: {e['text']} ({e['contribution']:+.2f})"
            for e in reasons
        )
        runner = next((o for o in dim["options"] if o["option"] != dim["chosen"] and not o["excluded"]), None)
        rows.append(
            {
                "dimension": dim["title"],
                "chosen": f"{chosen['title']} ({chosen['score']:+.2f})" if chosen else "none (all excluded)",
                "why": why or "the highest score; no single rule stands out",
                "runner_up": f"{runner['title']} ({runner['score']:+.2f})"
                if runner
                else "none (the rest are excluded)",
            }
        )
    return rows


def answer_rows(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The checklist answers that apply to this plan (:func:`~nlpops.advisor.defaults.applicable_answers`),
    each with ``default`` set when it is still nlpops' default."""
    return applicable_answers(plan["checklist"], plan["profile"])


DEFAULTS_NOTE = "*default* marks an answer that is still nlpops' default: set it in nlpops.yaml if it is not yours."


def render_markdown(plan: dict[str, Any], comparison: dict[str, Any] | None = None) -> str:
    """plan.md: the decision and its reasons first, then warnings, the reasoning per dimension, capacity, the
    checklist answers that apply (defaults marked), measured facts and the load test."""
    profile = plan["profile"]
    lines = [
        f"# Deployment plan for `{plan['name']}`",
        "",
        f"nlpops {plan['nlpops_version']}, {plan['created_at']}.",
        "",
    ]
    if plan.get("estimated"):
        lines += [f"> **ESTIMATED plan**: {plan.get('basis')}. Profile the trained bundle to confirm or revise it.", ""]
    lines += ["## Decision", "", "| dimension | chosen | why | runner-up |", "|---|---|---|---|"]
    lines += [f"| {r['dimension']} | **{r['chosen']}** | {r['why']} | {r['runner_up']} |" for r in decision_rows(plan)]
    lines += ["", capacity_headline(plan["capacity"]), ""]
    defaults = sum(1 for a in answer_rows(plan) if a["default"])
    if defaults:
        lines += [f"{defaults} of the answers this plan rests on are nlpops' defaults (see Checklist answers).", ""]
    if plan["warnings"]:
        lines += ["## Warnings", ""] + [f"- **{w['id']}**: {w['text']}" for w in plan["warnings"]] + [""]
    if comparison is not None:
        lines += render_comparison(comparison)
    lines += ["## Reasoning", ""]
    for name, dim in plan["dimensions"].items():
        lines += [f"### {dim['title']}: {dim['question']}", ""]
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
            lines.append(f"#### {o['title']} ({o['score']:+.2f})")
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
    lines += ["## Capacity", "", capacity_headline(plan["capacity"]), ""]
    lines += [f"- {line}" for line in plan["capacity"]["arithmetic"]] + [""]
    lines += ["## Checklist answers", "", f"The answers that bear on this plan. {DEFAULTS_NOTE}", ""]
    lines += ["| key | answer | question |", "|---|---|---|"]
    for a in answer_rows(plan):
        mark = " *default*" if a["default"] else ""
        lines.append(f"| `{a['path']}` | {_fmt(a['value'])}{mark} | {a['question']} |")
    bundle = profile["bundle"]
    machine = profile.get("machine", {})
    reliability = profile.get("reliability") or {}
    lines += [
        "",
        "## Measured facts",
        "",
        f"Bundle `{bundle['name']}` ({bundle.get('task', 'classification')}, {bundle['family']}, "
        f"runtime {bundle['runtime']}), "
        f"measured {profile.get('measured_at', '?')} on {machine.get('cpu_count', '?')} CPU(s); "
        + (
            "figures reliable."
            if reliability.get("reliable")
            else "figures NOT reliable: " + "; ".join(reliability.get("problems") or ["no record"]) + "."
        ),
        "",
        "| runtime | status | threads | p95 (batch 1) | best texts/s | peak memory | image (no base) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in runtime_rows(profile)]
    lines.append("")
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


def runtime_rows(profile: dict[str, Any]) -> list[list[str]]:
    """One row per runtime and measured thread count: status, p95, best texts/s, memory, image size."""
    rows = []
    for option, entry in (profile.get("runtimes") or {}).items():
        if entry.get("status") != "measured":
            rows.append([option, f"{entry.get('status')}: {entry.get('reason')}", "", "", "", "", ""])
            continue
        image = f"{entry['image_bytes'] / 1e6:.0f} MB" if entry.get("image_bytes") else "—"
        for threads, figures in entry["threads"].items():
            best = max(figures["throughput"], key=lambda r: r["texts_per_s"])
            memory = figures.get("peak_rss_bytes") or entry.get("peak_rss_bytes") or 0
            rows.append(
                [
                    option,
                    f"measured on {entry.get('device', 'cpu')}",
                    str(threads),
                    f"{figures['latency_ms']['p95']:.2f} ms",
                    f"{best['texts_per_s']:.0f} (batch {best['batch_size']})",
                    f"{memory / 1e6:.0f} MB",
                    image,
                ]
            )
    return rows


def capacity_headline(capacity: dict[str, Any]) -> str:
    """One sentence: replicas and their shape, or why nothing was sized."""
    if not capacity.get("sized", True):
        return f"**Not sized**: {capacity.get('reason')}."
    batch = capacity.get("batch") or {}
    if not capacity["replicas"]:
        if batch.get("sized"):
            return (
                f"No online service. Batch: **{batch['workers_for_window']}** worker(s), {batch['wall_hours']:.2f} h "
                f"per run, CPU request {capacity['cpu_request']}, memory request {capacity['memory_request_mib']} MiB."
            )
        return "No online service; batch workers not sized (rows per run not answered)."
    floor = capacity.get("min_replicas", capacity["replicas"])
    text = (
        f"Replicas: **{capacity['replicas']}** (autoscaling floor {floor}), "
        f"CPU request {capacity['cpu_request']}, memory request {capacity['memory_request_mib']} MiB "
        f"(limit {capacity['memory_limit_mib']} MiB)"
    )
    if capacity.get("gpu_request"):
        text += f", GPU {capacity['gpu_request']}"
    if batch.get("sized"):
        text += f"; batch: {batch['workers_for_window']} worker(s), {batch['wall_hours']:.2f} h per run"
    return text + "."


def render_summary(plan: dict[str, Any]) -> list[str]:
    """The plan in a few lines (what ``nlpops plan`` prints)."""
    lines = []
    if plan.get("estimated"):
        lines.append(f"ESTIMATED plan: {plan.get('basis')}")
    for name, dim in plan["dimensions"].items():
        ranked = ", ".join(
            f"{o['option']} {o['score']:+.2f}" + (" (excluded)" if o["excluded"] else "") for o in dim["options"]
        )
        lines.append(f"{name:<9} -> {dim['chosen']}   [{ranked}]")
    lines.append(capacity_headline(plan["capacity"]).replace("**", ""))
    lines += [f"  {line}" for line in plan["capacity"]["arithmetic"]]
    lines += [f"warning: {w['text']}" for w in plan["warnings"]]
    if plan.get("defaults"):
        lines.append("answers nlpops assumed (its defaults; set them in nlpops.yaml if they are not yours):")
        lines += [f"  {d['path']} = {_fmt(d['value'])}: {d['question']}" for d in plan["defaults"]]
    return lines


__all__ = [
    "DEFAULTS_NOTE",
    "answer_rows",
    "capacity_headline",
    "compare_plans",
    "decision_rows",
    "render_comparison",
    "render_markdown",
    "render_summary",
    "runtime_rows",
]
