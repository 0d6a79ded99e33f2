"""Scoring: every option of a dimension gets ``prior + sum(weight x signal)`` over the rules, with the
evidence behind each term, and is excluded when a constraint holds. The best non-excluded option wins.
"""

from __future__ import annotations

import math
from typing import Any

from nlpops.advisor.facts import fact_value, holds, nines, option_facts, render_text
from nlpops.advisor.rules import Rule, RuleBook, Signal


def signal_value(signal: Signal, value: Any) -> float | None:
    """The signal in [-1, 1] for a fact value; None when the value is unknown (the rule then stays neutral)."""
    if value is None:
        return None
    if signal.scale == "bool":
        return 1.0 if bool(value) else signal.false_signal
    if signal.scale == "match":
        return float(signal.values.get(str(value), signal.default))
    if signal.scale == "ratio":
        # Met with room (ratio >= high) counts +1; below that the signal keeps falling with every halving, without
        # a floor, so a runtime at half the latency always scores better than one at the full latency.
        assert signal.high is not None
        ratio = float(value)
        if ratio <= 0:
            return None
        return min(1.0, math.log(ratio) / math.log(signal.high))
    assert signal.low is not None and signal.high is not None
    x, low, high = float(value), signal.low, signal.high
    if signal.scale == "nines":
        x = nines(x)
    elif signal.scale == "log":
        if x <= 0:
            return -1.0
        x, low, high = math.log10(x), math.log10(low), math.log10(high)
    return max(-1.0, min(1.0, 2.0 * (x - low) / (high - low) - 1.0))


def _effect(contribution: float, neutral_below: float) -> str:
    if contribution > neutral_below:
        return "for"
    if contribution < -neutral_below:
        return "against"
    return "neutral"


def _evidence(rule: Rule, option: str, facts: dict[str, Any], neutral_below: float) -> dict[str, Any] | None:
    weight = rule.weight if rule.weight is not None else rule.weights.get(option, 0.0)
    if weight == 0:
        return None
    value = fact_value(rule.signal.fact, facts, rule.id)
    signal = signal_value(rule.signal, value)
    contribution = 0.0 if signal is None else weight * signal
    shown = value if not isinstance(value, float) else round(value, 4)
    return {
        "factor": rule.factor,
        "rule": rule.id,
        "fact": rule.signal.fact,
        "value": shown,
        "signal": None if signal is None else round(signal, 4),
        "weight": weight,
        "contribution": round(contribution, 4),
        "effect": _effect(contribution, neutral_below),
        "text": render_text(rule.text, {"value": value}) + ("" if signal is not None else " (unknown: no effect)"),
    }


def score_dimension(dimension: str, facts: dict[str, Any], book: RuleBook) -> dict[str, Any]:
    """Score and rank the options of one dimension.

    Args:
        dimension: a key of ``book.dimensions``.
        facts: from :func:`nlpops.advisor.facts.build_facts`.
        book: the rules.

    Returns:
        ``{"title", "question", "chosen", "options": [ranked entries with score, evidence, excluded]}``.

    Raises:
        PlanError: a rule or constraint reads an unknown fact.
    """
    spec = book.dimensions[dimension]
    neutral_below = book.settings.neutral_below
    rules = [r for r in book.rules if r.dimension == dimension]
    entries = []
    for name, option in spec.options.items():
        local = {**facts, **option_facts(dimension, name, facts, book)}
        applicable = [r for r in rules if all(holds(cond, local) for cond in r.when)]
        evidence = [e for r in applicable if (e := _evidence(r, name, local, neutral_below)) is not None]
        covered = {e["factor"] for e in evidence}
        for factor in book.factors:
            if factor not in covered:
                evidence.append(
                    {
                        "factor": factor,
                        "rule": None,
                        "fact": None,
                        "value": None,
                        "signal": None,
                        "weight": 0.0,
                        "contribution": 0.0,
                        "effect": "neutral",
                        "text": "no bearing on this choice",
                    }
                )
        excluded = [
            {"constraint": c.id, "factor": c.factor, "reason": render_text(c.reason, local)}
            for c in book.constraints
            if c.dimension == dimension and name in c.options and all(holds(cond, local) for cond in c.when)
        ]
        score = option.prior + sum(e["contribution"] for e in evidence)
        order = list(book.factors)
        evidence.sort(key=lambda e: (order.index(e["factor"]) if e["factor"] in order else len(order), e["rule"] or ""))
        entry: dict[str, Any] = {
            "option": name,
            "title": option.title,
            "description": option.description,
            "score": round(score, 4),
            "prior": option.prior,
            "excluded": excluded,
            "evidence": evidence,
        }
        if "option.p95_ms" in local:
            p95 = local["option.p95_ms"]
            entry["expected_p95_ms"] = None if p95 is None else round(float(p95), 3)
            entry["meets_slo"] = None if p95 is None else bool(p95 <= facts["latency.p95_ms"])
        if dimension == "runtime":
            entry["status"] = local["option.status"]
        entries.append(entry)
    entries.sort(key=lambda e: (bool(e["excluded"]), -e["score"], e["option"]))
    for rank, entry in enumerate(entries, start=1):
        entry["rank"] = rank
    chosen = entries[0]["option"] if entries and not entries[0]["excluded"] else None
    return {"title": spec.title, "question": spec.question, "chosen": chosen, "options": entries}


def active_warnings(facts: dict[str, Any], book: RuleBook) -> list[dict[str, str]]:
    """The rule-file warnings whose conditions hold."""
    return [
        {"id": w.id, "factor": w.factor, "text": render_text(w.text, facts)}
        for w in book.warnings
        if all(holds(cond, facts) for cond in w.when)
    ]


__all__ = ["active_warnings", "score_dimension", "signal_value"]
