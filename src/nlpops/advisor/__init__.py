"""The deployment advisor: rules as data, scoring with evidence, capacity, and the plan report.

``make_plan(config, profile, load_rules(config.advisor.rules_file))`` gives the plan; ``save_plan`` writes
plan.json, plan.md and plan.html; ``compare_plans`` explains what changed between two plans.
"""

from __future__ import annotations

from nlpops.advisor.plan import (
    PLAN_SCHEMA_VERSION,
    checklist_answers,
    load_plan,
    make_plan,
    planned_model,
    save_plan,
)
from nlpops.advisor.report import compare_plans, render_markdown
from nlpops.advisor.rules import RuleBook, load_rules

__all__ = [
    "PLAN_SCHEMA_VERSION",
    "RuleBook",
    "checklist_answers",
    "compare_plans",
    "load_plan",
    "load_rules",
    "make_plan",
    "planned_model",
    "render_markdown",
    "save_plan",
]
