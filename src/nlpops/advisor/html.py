"""The plan as one standalone HTML page (``plan.html``): inline CSS, no scripts, no external assets."""

from __future__ import annotations

from html import escape
from typing import Any

from nlpops.advisor.report import DEFAULTS_NOTE, _fmt, answer_rows, capacity_headline, decision_rows, runtime_rows

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem;
color:#1d2330;line-height:1.45}
h1,h2,h3{line-height:1.2}table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}
th,td{border:1px solid #d6dae3;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f1f3f8}
.chosen{background:#e6f6ea}.excluded{color:#8a8f9c}.for{color:#12703a}.against{color:#a1261b}.neutral{color:#666}
.warn{background:#fff4e0;border-left:4px solid #e69500;padding:.4rem .7rem;margin:.3rem 0}
code{background:#f1f3f8;padding:0 .2rem}details{margin:.2rem 0 .6rem}
#decision table td:nth-child(2){font-weight:600;white-space:nowrap}.default{color:#8a5a00;font-style:italic}
.lead{font-size:1.05rem}h1{margin-bottom:.3rem}
"""


def _e(value: Any) -> str:
    return escape(_fmt(value))


def _table(headers: list[str], rows: list[tuple[list[str], str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(f'<tr class="{cls}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>" for cells, cls in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _dimension(name: str, dim: dict[str, Any], plan: dict[str, Any]) -> str:
    parts = [f"<h3>{escape(dim['title'])}: {escape(dim['question'])}</h3>"]
    rows = []
    for o in dim["options"]:
        chosen = o["option"] == dim["chosen"]
        status = (
            "chosen"
            if chosen
            else ("excluded: " + "; ".join(x["reason"] for x in o["excluded"]) if o["excluded"] else "runner-up")
        )
        cls = "chosen" if chosen else ("excluded" if o["excluded"] else "")
        rows.append(([str(o["rank"]), escape(o["title"]), f"{o['score']:+.2f}", escape(status)], cls))
    parts.append(_table(["rank", "option", "score", "status"], rows))
    for o in dim["options"]:
        items = []
        for e in o["evidence"]:
            factor = plan["factors"].get(e["factor"], {}).get("title", e["factor"])
            amount = f"{e['contribution']:+.2f}" if e["rule"] else "0"
            items.append(
                f'<li class="{e["effect"]}">{escape(factor)}: {escape(e["text"])} ({e["effect"]}, {amount})</li>'
            )
        parts.append(
            f"<details><summary>Evidence for {escape(o['title'])} ({o['score']:+.2f})</summary>"
            f"<ul>{''.join(items)}</ul></details>"
        )
    changes = plan["what_would_change"].get(name, [])
    if changes:
        parts.append(
            "<p><strong>What would change the decision</strong></p><ul>"
            + "".join(f"<li>{escape(c['option'])}: {escape(c['text'])}</li>" for c in changes)
            + "</ul>"
        )
    return "\n".join(parts)


def render_html(plan: dict[str, Any], comparison: dict[str, Any] | None = None) -> str:
    """The standalone HTML report: the decision and its reasons first (``#decision``), then warnings, the
    reasoning per dimension, capacity, the checklist answers that apply (defaults marked) and measured facts."""
    title = f"Deployment plan for {plan['name']}"
    body = [
        f'<h1 id="title">Deployment plan for <span id="model">{escape(plan["name"])}</span></h1>',
        f"<p>nlpops {_e(plan['nlpops_version'])}, {_e(plan['created_at'])}</p>",
    ]
    if plan.get("estimated"):
        body.append(f'<div class="warn"><strong>ESTIMATED plan</strong>: {_e(plan.get("basis"))}</div>')
    decision = [
        ([escape(r["dimension"]), escape(r["chosen"]), escape(r["why"]), escape(r["runner_up"])], "")
        for r in decision_rows(plan)
    ]
    answers = answer_rows(plan)
    defaults = sum(1 for a in answers if a["default"])
    body += [
        '<section id="decision"><h2>Decision</h2>',
        _table(["dimension", "chosen", "why", "runner-up"], decision),
        f'<p class="lead">{escape(capacity_headline(plan["capacity"]).replace("**", ""))}</p>',
        f"<p>{defaults} of the answers this plan rests on are nlpops' defaults (see "
        '<a href="#answers">Checklist answers</a>).</p>'
        if defaults
        else "",
        "</section>",
    ]
    if plan["warnings"]:
        body.append("<h2>Warnings</h2>")
        body += [
            f'<div class="warn"><strong>{escape(w["id"])}</strong>: {escape(w["text"])}</div>' for w in plan["warnings"]
        ]
    if comparison is not None:
        items = [
            f"<li>answer <code>{escape(a['path'])}</code>: {_e(a['from'])} → {_e(a['to'])}</li>"
            for a in comparison["answers"]
        ]
        for name, entry in comparison["dimensions"].items():
            why = "".join(f"<li>{escape(w)}</li>" for w in entry["why"])
            items.append(
                f"<li>{escape(name)}: {_e(entry['old'])} → <strong>{_e(entry['new'])}</strong><ul>{why}</ul></li>"
            )
        body += ["<h2>What changed since the previous plan</h2>", f"<ul>{''.join(items)}</ul>"]
    body.append("<h2>Reasoning</h2>")
    body += [_dimension(name, dim, plan) for name, dim in plan["dimensions"].items()]
    capacity = plan["capacity"]
    body += [
        "<h2>Capacity</h2>",
        f"<p>{escape(capacity_headline(capacity).replace('**', ''))}</p>",
        "<ul>" + "".join(f"<li>{escape(line)}</li>" for line in capacity["arithmetic"]) + "</ul>",
    ]
    note = escape(DEFAULTS_NOTE).replace("*default*", '<span class="default">default</span>')
    rows = [
        (
            [
                f"<code>{escape(a['path'])}</code>",
                _e(a["value"]) + (' <span class="default">default</span>' if a["default"] else ""),
                escape(a["question"]),
            ],
            "",
        )
        for a in answers
    ]
    body += [
        f'<h2 id="answers">Checklist answers</h2><p>The answers that bear on this plan. {note}</p>',
        _table(["key", "answer", "question"], rows),
    ]
    facts = [([f"<code>{escape(k)}</code>", _e(v)], "") for k, v in plan["facts"].items() if k.startswith("profile.")]
    runtimes = [([escape(cell) for cell in row], "") for row in runtime_rows(plan["profile"])]
    headers = ["runtime", "status", "threads", "p95 (batch 1)", "best texts/s", "peak memory", "image (no base)"]
    body += ["<h2>Measured facts</h2>", _table(["fact", "value"], facts), _table(headers, runtimes)]
    verified = plan.get("verified")
    if verified:
        lat = verified.get("latency_ms", {})
        body += [
            "<h2>Verified by load test</h2>",
            f"<p>{verified.get('achieved_rps', 0):.1f} req/s: p95 {lat.get('p95', 0):.1f} ms, errors "
            f"{verified.get('errors', 0)}; SLO {'held' if verified.get('slo_met') else 'NOT met'}.</p>",
        ]
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
        f"<body>{''.join(body)}</body></html>\n"
    )


__all__ = ["render_html"]
