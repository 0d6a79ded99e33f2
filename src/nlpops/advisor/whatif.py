""" "What would change the decision": for each runner-up, the smallest single change of a checklist answer
that would make it win its dimension (found by re-scoring with that answer changed).
"""

from __future__ import annotations

import copy
import math
import typing
from collections.abc import Callable, Iterator
from typing import Any, Literal

from nlpops.advisor.facts import FACTOR_SECTIONS
from nlpops.advisor.rules import RuleBook
from nlpops.checklist import NlpopsConfig

_EXTRA_LANGUAGES = ["en", "de", "fr", "es", "it", "nl"]


def _annotation(path: str) -> Any:
    model: Any = NlpopsConfig
    annotation: Any = None
    for part in path.split("."):
        field = model.model_fields[part]
        annotation = field.annotation
        model = annotation
    return annotation


def _literal_values(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is Literal:
        return list(typing.get_args(annotation))
    values: list[Any] = []
    for arg in typing.get_args(annotation):
        values.extend(_literal_values(arg))
    return values


def _alternatives(path: str, value: Any) -> Iterator[tuple[float, Any]]:
    """``(size_of_change, new_value)`` candidates for one answer."""
    if path == "languages.languages":
        n = len(value)
        for k in (1, 2, 4, 6):
            if k != n:
                yield abs(math.log(k / max(n, 1))), _EXTRA_LANGUAGES[:k]
        return
    if path == "traffic.availability":
        for a in (0.9, 0.99, 0.999, 0.9999):
            if a != value:
                yield abs(math.log((1 - a) / (1 - value))), a
        return
    if isinstance(value, bool):
        yield 1.0, not value
        return
    literals = _literal_values(_annotation(path))
    if literals:
        for other in literals:
            if other != value:
                yield 1.0, other
        return
    if isinstance(value, int | float):
        if value == 0:
            for start in (1, 10, 100, 10_000, 1_000_000):
                yield 1.0 + math.log10(start), start
            return
        for factor in (0.5, 2, 0.1, 10, 100, 0.01):
            new: Any = value * factor
            if isinstance(value, int):
                new = max(1, round(new))
            yield abs(math.log(factor)), new
        if path.startswith("traffic.") and "rps" in path:
            yield 1.5, 0
    elif path == "retraining.schedule":
        yield 1.0, None if value else "0 3 * * 0"


def _answer_paths(book: RuleBook, answers: dict[str, Any]) -> list[str]:
    facts = {r.signal.fact for r in book.rules} | {c.fact for k in book.constraints for c in k.when}
    derived = {
        "languages.count": "languages.languages",
        "languages.min_examples_ratio": "languages.min_examples_per_language",
        "retraining.scheduled": "retraining.schedule",
        "retraining.runs_per_month": "retraining.schedule",
        "infrastructure.cloud_account": "infrastructure.cloud",
        "traffic.burst_ratio": "traffic.average_rps",
        "traffic.online": "traffic.mode",
        "traffic.batch": "traffic.mode",
        "batch.workers_needed": "traffic.batch_window_hours",
        "batch.cpu_hours_per_run": "traffic.batch_rows_per_run",
        "monitoring.stack_wanted": "monitoring.alerting",
        "infrastructure.caller": "infrastructure.caller_language",
        "infrastructure.container_host": "infrastructure.docker",
        "monitoring.dashboards_ready": "monitoring.dashboards",
    }
    for rule in book.rules:
        facts |= {c.fact for c in rule.when}
    paths = {derived.get(f, f) for f in facts} | {"latency.p95_ms"}
    out = []
    for path in sorted(paths):
        section, _, key = path.partition(".")
        # per-language maps have no single alternative
        if (
            section in FACTOR_SECTIONS
            and key in answers.get(section, {})
            and not isinstance(answers[section][key], dict)
        ):
            out.append(path)
    return out


def _with(answers: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(answers)
    section, _, key = path.partition(".")
    changed[section][key] = value
    return changed


def what_would_change(
    answers: dict[str, Any],
    winners: dict[str, str | None],
    runners_up: dict[str, list[str]],
    rescore: Callable[[dict[str, Any], str], str | None],
    book: RuleBook,
) -> dict[str, list[dict[str, Any]]]:
    """For each dimension and runner-up, the smallest single answer change that makes it win.

    Args:
        answers: the checklist answers.
        winners: the chosen option per dimension.
        runners_up: the other non-excluded options per dimension, best first.
        rescore: ``rescore(changed_answers, dimension) -> winner``.
        book: the rules (to know which answers matter).

    Returns:
        Per dimension, one entry per runner-up: ``{"option", "path", "from", "to", "text"}`` (``path`` None
        when no single change makes it win).
    """
    candidates: list[tuple[float, str, Any]] = []
    for path in _answer_paths(book, answers):
        section, _, key = path.partition(".")
        current = answers[section][key]
        candidates += [(size, path, new) for size, new in _alternatives(path, current)]
    candidates.sort(key=lambda c: c[0])
    out: dict[str, list[dict[str, Any]]] = {}
    for dimension, others in runners_up.items():
        found: dict[str, dict[str, Any]] = {}
        for _size, path, new in candidates:
            if len(found) == len(others):
                break
            winner = rescore(_with(answers, path, new), dimension)
            if winner in others and winner not in found and winner != winners.get(dimension):
                section, _, key = path.partition(".")
                old = answers[section][key]
                found[winner] = {
                    "option": winner,
                    "path": path,
                    "from": old,
                    "to": new,
                    "text": f"{path}: {old!r} -> {new!r}",
                }
        out[dimension] = [
            found.get(
                o, {"option": o, "path": None, "from": None, "to": None, "text": "no single answer change makes it win"}
            )
            for o in others
        ]
    return out


__all__ = ["what_would_change"]
