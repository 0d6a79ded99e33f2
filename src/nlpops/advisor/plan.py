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
from nlpops.advisor.defaults import defaulted_answers
from nlpops.advisor.facts import FACTOR_SECTIONS, build_facts, examples_per_language
from nlpops.advisor.rules import RuleBook
from nlpops.advisor.scoring import active_warnings, score_dimension
from nlpops.advisor.whatif import what_would_change
from nlpops.checklist import NlpopsConfig
from nlpops.errors import PlanError
from nlpops.profile import check_profile

PLAN_SCHEMA_VERSION = 2
DIMENSION_ORDER = ("platform", "topology", "mode", "runtime")


def checklist_answers(config: NlpopsConfig) -> dict[str, Any]:
    """The nine factor sections of the config as plain data (what the plan is based on)."""
    data = config.model_dump(mode="json")
    return {key: data[key] for key in FACTOR_SECTIONS}


def _dimensions(book: RuleBook) -> list[str]:
    known = [d for d in DIMENSION_ORDER if d in book.dimensions]
    return known + [d for d in book.dimensions if d not in known]


def score_all(
    answers: dict[str, Any], profile: dict[str, Any], book: RuleBook, only: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Facts and the scored dimensions for one set of answers (``only``: just that dimension, and what it
    depends on).

    The platform is chosen before the runtime: the runtime is then chosen among those that fit the chosen
    platform's hard limits, so the two never contradict each other.
    """
    facts = build_facts(answers, profile, book)
    order = _dimensions(book)
    if "platform" in order and "runtime" in order:
        order.remove("platform")
        order.insert(order.index("runtime"), "platform")
    if only is not None:
        order = [d for d in order if d == only or (only == "runtime" and d == "platform")]
    scored: dict[str, Any] = {}
    for name in order:
        scored[name] = score_dimension(name, facts, book)
        if name == "platform":
            facts["platform.chosen"] = scored[name]["chosen"]
    return facts, {name: scored[name] for name in _dimensions(book) if name in scored}


def _computed_warnings(
    answers: dict[str, Any],
    facts: dict[str, Any],
    dimensions: dict[str, Any],
    capacity: dict[str, Any],
    profile: dict[str, Any],
) -> list[dict[str, str]]:
    out = []
    for name, dim in dimensions.items():
        if dim["chosen"] is None and dim["options"]:
            best = dim["options"][0]  # the best-scored of the excluded: what stands in its way
            reasons = "; ".join(x["reason"] for x in best["excluded"])
            out.append(
                {
                    "id": f"{name}-all-excluded",
                    "factor": "-",
                    "text": f"Every {name} option is excluded; relax a constraint. The best scored, "
                    f"{best['option']}, is excluded because {reasons}.",
                }
            )
    runtime = dimensions.get("runtime")
    if runtime is not None and facts["traffic.online"]:
        available = [o for o in runtime["options"] if not o["excluded"]]
        measured = [o for o in available if o.get("expected_p95_ms") is not None]
        if measured and not any(o.get("meets_slo") for o in available):
            known = [o for o in available if o.get("expected_p95_ms") is not None]
            best = min(known, key=lambda o: o["expected_p95_ms"], default=None)
            where = (
                f" (best measured: {best['title']}, {best['expected_p95_ms']:.1f} ms)" if best else " (none measured)"
            )
            gpu = ", serve it on the GPU" if facts["model.gpu"] else ""
            out.append(
                {
                    "id": "slo-unreachable",
                    "factor": "latency",
                    "text": f"No available runtime is measured to meet the p95 objective of "
                    f"{facts['latency.p95_ms']:g} ms{where}. Use a smaller or distilled model, "
                    f"quantize it{gpu}, or relax the objective.",
                }
            )
    if capacity.get("sized") and not capacity.get("slo_reachable", True) and capacity.get("peak_rps", 0) > 0:
        out.append(
            {
                "id": "capacity-latency-budget",
                "factor": "latency",
                "text": "No measured replica shape keeps even one text per call within the share of the objective "
                "left for batching; replicas were sized with the fastest shape.",
            }
        )
    if not capacity.get("sized", True):
        out.append({"id": "capacity-unmeasured", "factor": "model_type", "text": str(capacity["reason"]) + "."})
    reliability = profile.get("reliability") or {}
    if reliability.get("reliable") is False or (reliability.get("reliable") is None and reliability.get("problems")):
        out.append(
            {
                "id": "measurements-unreliable",
                "factor": "model_type",
                "text": "The profile's figures may not be trustworthy: "
                + "; ".join(reliability.get("problems") or [])
                + ". Re-run nlpops profile on a quiet machine.",
            }
        )
    estimate = profile.get("estimate")
    if estimate is not None:
        notes = "; ".join(estimate.get("notes") or [])
        out.append(
            {
                "id": "estimated-plan",
                "factor": "model_type",
                "text": f"ESTIMATED plan ({estimate['basis']}{'; ' + notes if notes else ''}). Profile the trained "
                "bundle and re-plan with --compare to confirm or revise it.",
            }
        )
    missing = [lang for lang, n in examples_per_language(answers, profile).items() if n is None]
    if missing and facts["languages.count"] > 1:
        out.append(
            {
                "id": "examples-unknown",
                "factor": "languages",
                "text": f"No example counts for {', '.join(missing)}: declare languages.examples_per_language "
                "(or train the bundle) so the per-language decision rests on data.",
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
    model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score every dimension, size the chosen deployment, and explain the decision.

    Args:
        config: the loaded config (only the checklist sections are used).
        profile: a profile from ``nlpops profile`` (or an estimate, before training).
        book: the rules (shipped plus the team's own).
        loadtest: a ``nlpops loadtest`` result to attach as verification.
        rules_sources: where the rules came from, for the report.
        model: the model planned for (:func:`planned_model`): its ``name`` titles the plan and names what
            ``nlpops deploy`` serves, its ``alias`` is the one the services follow. None: ``config.name``.

    Returns:
        The plan (see docs/advisor.md).

    Raises:
        PlanError: a rule reads an unknown fact, or the profile lacks a figure the plan needs.
    """
    answers = checklist_answers(config)
    profile = check_profile(profile, "the profile")
    try:
        facts, dimensions = score_all(answers, profile, book)
    except KeyError as exc:
        raise PlanError(f"The profile lacks {exc}; re-run: nlpops profile REF --out FILE") from exc
    chosen = {name: dim["chosen"] for name, dim in dimensions.items()}
    capacity = plan_capacity(answers, profile, chosen.get("runtime"), chosen, book.settings)

    def rescore(changed: dict[str, Any], dimension: str) -> str | None:
        winner: str | None = score_all(changed, profile, book, only=dimension)[1][dimension]["chosen"]
        return winner

    runners_up = {
        name: [o["option"] for o in dim["options"] if not o["excluded"] and o["option"] != dim["chosen"]]
        for name, dim in dimensions.items()
    }
    changes = what_would_change(answers, chosen, runners_up, rescore, book)
    warnings = active_warnings(facts, book) + _computed_warnings(answers, facts, dimensions, capacity, profile)
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
        "name": (model or {}).get("name") or config.name,
        "model": model,
        "estimated": "estimate" in profile,
        "basis": (profile.get("estimate") or {}).get("basis") or "measured",
        "checklist": answers,
        "defaults": defaulted_answers(answers, profile),
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


def planned_model(
    profile: dict[str, Any], ref: str | None = None, *, alias: str | None = None, version: int | None = None
) -> dict[str, Any] | None:
    """Which model a plan is for: the registry entry or bundle the profile measured (None for an estimate).

    Args:
        profile: the profile the plan is made from.
        ref: how the user named the model (``intents@production``, ``models/intents``), if they did.
        alias: the registry alias ``ref`` follows (None for a version or a bundle path).
        version: the registry version measured, when known.

    Returns:
        ``{"name", "ref", "alias", "version"}``: the registry name (else the bundle's manifest name).
    """
    if "estimate" in profile:
        return None
    registry = profile.get("registry") or {}
    name = registry.get("name") or (profile.get("bundle") or {}).get("name")
    if not name:
        return None
    return {
        "name": str(name),
        "ref": ref,
        "alias": alias,
        "version": version if version is not None else registry.get("version"),
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
    if data.get("schema_version") not in (1, PLAN_SCHEMA_VERSION):
        raise PlanError(
            f'Plan "{file}" has schema version {data.get("schema_version")!r}; this nlpops reads 1 and '
            f"{PLAN_SCHEMA_VERSION}. Re-run nlpops plan."
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


__all__ = [
    "PLAN_SCHEMA_VERSION",
    "checklist_answers",
    "load_plan",
    "make_plan",
    "planned_model",
    "save_plan",
    "score_all",
]
