"""``nlpops plan``: the checklist answers and a measured profile in, a scored and explained plan out.

The plan is a JSON-able dict (``plan.json``, layout in docs/advisor.md, ``PLAN_SCHEMA_VERSION``) that
``nlpops deploy`` reads; ``plan.md`` and ``plan.html`` are renderings of it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nlpops._version import __version__
from nlpops.advisor.capacity import plan_capacity
from nlpops.advisor.facts import FACTOR_SECTIONS, build_facts
from nlpops.advisor.rules import RuleBook
from nlpops.advisor.scoring import active_warnings, score_dimension
from nlpops.advisor.whatif import what_would_change
from nlpops.checklist import NlpopsConfig
from nlpops.errors import PlanError

PLAN_SCHEMA_VERSION = 1
DIMENSION_ORDER = ("platform", "topology", "mode", "runtime")


def checklist_answers(config: NlpopsConfig) -> dict[str, Any]:
    """The nine factor sections of the config as plain data (what the plan is based on)."""
    data = config.model_dump(mode="json")
    return {key: data[key] for key in FACTOR_SECTIONS}


def _dimensions(book: RuleBook) -> list[str]:
    known = [d for d in DIMENSION_ORDER if d in book.dimensions]
    return known + [d for d in book.dimensions if d not in known]


def score_all(
    answers: dict[str, Any], profile: dict[str, Any], book: RuleBook
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Facts and the scored dimensions for one set of answers."""
    facts = build_facts(answers, profile, book)
    return facts, {name: score_dimension(name, facts, book) for name in _dimensions(book)}


def _computed_warnings(
    facts: dict[str, Any], dimensions: dict[str, Any], capacity: dict[str, Any]
) -> list[dict[str, str]]:
    out = []
    for name, dim in dimensions.items():
        if dim["chosen"] is None:
            out.append(
                {
                    "id": f"{name}-all-excluded",
                    "factor": "-",
                    "text": f"Every {name} option is excluded; relax a constraint (see the reasons below).",
                }
            )
    runtime = dimensions.get("runtime")
    if runtime is not None:
        reachable = [o for o in runtime["options"] if not o["excluded"] and o.get("meets_slo")]
        if not reachable:
            best = min(
                (o for o in runtime["options"] if not o["excluded"]),
                key=lambda o: o.get("expected_p95_ms", 0),
                default=None,
            )
            where = f" (best: {best['title']}, about {best['expected_p95_ms']:.1f} ms)" if best else ""
            out.append(
                {
                    "id": "slo-unreachable",
                    "factor": "latency",
                    "text": f"No available runtime is expected to meet the p95 objective of "
                    f"{facts['latency.p95_ms']:g} ms{where}. Use a smaller or distilled model, "
                    "quantize it, add a GPU, or relax the objective.",
                }
            )
    if capacity and not capacity["slo_reachable"] and capacity["peak_rps"] > 0:
        out.append(
            {
                "id": "capacity-at-batch-1",
                "factor": "latency",
                "text": "Even one text per call exceeds the share of the objective left for batching; "
                "replicas were sized at batch size 1.",
            }
        )
    return out


def make_plan(
    config: NlpopsConfig,
    profile: dict[str, Any],
    book: RuleBook,
    *,
    loadtest: dict[str, Any] | None = None,
    rules_sources: list[str] | None = None,
) -> dict[str, Any]:
    """Score every dimension, size the chosen deployment, and explain the decision.

    Args:
        config: the loaded config (only the checklist sections are used).
        profile: a profile from ``nlpops profile``.
        book: the rules (shipped plus the team's own).
        loadtest: a ``nlpops loadtest`` result to attach as verification.
        rules_sources: where the rules came from, for the report.

    Returns:
        The plan (see docs/advisor.md).

    Raises:
        PlanError: a rule reads an unknown fact, or the profile lacks a figure the plan needs.
    """
    answers = checklist_answers(config)
    try:
        facts, dimensions = score_all(answers, profile, book)
    except KeyError as exc:
        raise PlanError(f"The profile lacks {exc}; re-run: nlpops profile REF --out FILE") from exc
    chosen = {name: dim["chosen"] for name, dim in dimensions.items()}
    runtime_choice = chosen.get("runtime")
    estimates = facts["_runtime_estimates"]
    factor = estimates[runtime_choice]["latency_factor"] if runtime_choice in estimates else 1.0
    capacity = plan_capacity(answers, profile, factor, chosen.get("topology"), chosen.get("mode"), book.settings)
    capacity["runtime"] = runtime_choice

    def rescore(changed: dict[str, Any], dimension: str) -> str | None:
        changed_facts = build_facts(changed, profile, book)
        winner: str | None = score_dimension(dimension, changed_facts, book)["chosen"]
        return winner

    runners_up = {
        name: [o["option"] for o in dim["options"] if not o["excluded"] and o["option"] != dim["chosen"]]
        for name, dim in dimensions.items()
    }
    changes = what_would_change(answers, chosen, runners_up, rescore, book)
    warnings = active_warnings(facts, book) + _computed_warnings(facts, dimensions, capacity)
    verified = None
    if loadtest is not None:
        verified = dict(loadtest)
        if not loadtest.get("slo_met", True):
            warnings.append(
                {
                    "id": "loadtest-missed-slo",
                    "factor": "latency",
                    "text": f"The load test measured p95 {loadtest.get('latency_ms', {}).get('p95', 0):.1f} ms "
                    f"at {loadtest.get('achieved_rps', 0):.1f} req/s: the objective was not met.",
                }
            )
    return {
        "schema_version": PLAN_SCHEMA_VERSION,
        "kind": "nlpops-plan",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "nlpops_version": __version__,
        "name": config.name,
        "checklist": answers,
        "profile": profile,
        "facts": {k: v for k, v in facts.items() if not k.startswith("_")},
        "factors": {k: f.model_dump() for k, f in book.factors.items()},
        "dimensions": dimensions,
        "chosen": chosen,
        "capacity": capacity,
        "warnings": warnings,
        "what_would_change": changes,
        "verified": verified,
        "rules_sources": rules_sources or ["rules.yaml"],
    }


def load_plan(path: Path | str) -> dict[str, Any]:
    """Read a plan.json.

    Raises:
        PlanError: missing, not JSON, or of another schema version.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PlanError(f'Plan file "{file}" does not exist. Run: nlpops plan --out DIR') from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanError(f'Plan file "{file}" is not readable JSON: {exc}.') from exc
    if not isinstance(data, dict) or data.get("kind") != "nlpops-plan":
        raise PlanError(f'"{file}" is not an nlpops plan.json. Pass the plan.json written by nlpops plan --out.')
    if data.get("schema_version") != PLAN_SCHEMA_VERSION:
        raise PlanError(
            f'Plan "{file}" has schema version {data.get("schema_version")!r}; this nlpops reads {PLAN_SCHEMA_VERSION}.'
            " Re-run nlpops plan."
        )
    return dict(data)


def save_plan(plan: dict[str, Any], out: Path | str, comparison: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write plan.json, plan.md and plan.html into ``out`` (created if needed)."""
    from nlpops.advisor.html import render_html
    from nlpops.advisor.report import render_markdown

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "plan.json", "markdown": folder / "plan.md", "html": folder / "plan.html"}
    paths["json"].write_text(json.dumps(plan, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
    paths["markdown"].write_text(render_markdown(plan, comparison), encoding="utf-8")
    paths["html"].write_text(render_html(plan, comparison), encoding="utf-8")
    return paths


__all__ = ["PLAN_SCHEMA_VERSION", "checklist_answers", "load_plan", "make_plan", "save_plan", "score_all"]
