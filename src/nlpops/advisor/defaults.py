"""Which checklist answers a plan rests on that are still nlpops' defaults, and the question to ask for each.

An empty nlpops.yaml plans on defaults that look like answers (99 % availability, 10 requests/s at peak, ...).
The plan lists every checklist answer that still holds its default value, with the question it answers, so
nobody mistakes them for decisions. Answers that cannot matter for this plan are left out (rows per batch run
for an online-only service, the expected model size once a trained model was measured, traffic shares with
one language, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nlpops.init_template import QUESTIONS, default_value

Relevance = Callable[[dict[str, Any], dict[str, Any]], bool]


def _online(answers: dict[str, Any], profile: dict[str, Any]) -> bool:
    return bool(answers["traffic"]["mode"] != "batch")


def _batch(answers: dict[str, Any], profile: dict[str, Any]) -> bool:
    return bool(answers["traffic"]["mode"] != "online")


def _before_training(answers: dict[str, Any], profile: dict[str, Any]) -> bool:
    return "estimate" in profile


def _several_languages(answers: dict[str, Any], profile: dict[str, Any]) -> bool:
    return len(answers["languages"]["languages"]) > 1


def _examples_unknown(answers: dict[str, Any], profile: dict[str, Any]) -> bool:
    counts = profile["bundle"].get("language_counts") or {}
    return _several_languages(answers, profile) and not set(answers["languages"]["languages"]) <= set(counts)


_RELEVANT: dict[str, Relevance] = {
    "model.family": _before_training,  # once trained, the profile measured the model's own family
    "model.size_mb": _before_training,
    "model.reference": _before_training,
    "languages.strategy": _several_languages,
    "languages.examples_per_language": _examples_unknown,
    "languages.traffic_shares": _several_languages,
    "traffic.peak_rps": _online,
    "traffic.average_rps": _online,
    "traffic.texts_per_request": _online,
    "traffic.availability": _online,
    "latency.p95_ms": _online,
    "traffic.batch_rows_per_run": _batch,
    "traffic.batch_window_hours": _batch,
}
_SKIP = ("name",)


def _answer(answers: dict[str, Any], path: str) -> Any:
    node: Any = answers
    for part in path.split("."):
        node = node[part]
    return node


def applicable_answers(answers: dict[str, Any], profile: dict[str, Any]) -> list[dict[str, Any]]:
    """The checklist answers that bear on this plan, each marked when it still holds nlpops' default.

    Args:
        answers: the checklist answers (factor sections as plain data).
        profile: the profile the plan uses (measured or estimated).

    Returns:
        ``[{"path", "value", "question", "why", "default"}]`` in the order ``nlpops init --interactive`` asks
        them; settings that are no checklist question (family hyper-parameters, monitoring plumbing) are left out.
    """
    out = []
    for question in QUESTIONS:
        section = question.path.split(".")[0]
        if question.path in _SKIP or section not in answers:
            continue
        relevant = _RELEVANT.get(question.path)
        if relevant is not None and not relevant(answers, profile):
            continue
        value = _answer(answers, question.path)
        out.append(
            {
                "path": question.path,
                "value": value,
                "question": question.text,
                "why": question.why,
                "default": value == default_value(question.path),
            }
        )
    return out


def defaulted_answers(answers: dict[str, Any], profile: dict[str, Any]) -> list[dict[str, Any]]:
    """The checklist answers at their default value that matter for this plan.

    Args:
        answers: the checklist answers (factor sections as plain data).
        profile: the profile the plan uses (measured or estimated).

    Returns:
        ``[{"path", "value", "question", "why"}]`` in the order ``nlpops init --interactive`` asks them.
    """
    keys = ("path", "value", "question", "why")
    return [{k: a[k] for k in keys} for a in applicable_answers(answers, profile) if a["default"]]


__all__ = ["applicable_answers", "defaulted_answers"]
