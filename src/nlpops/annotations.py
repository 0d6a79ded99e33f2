"""The gold answers of each task as labelling tools export them, read from one record and checked.

- ``classification``: ``{"text": ..., "label": "billing"}`` (or a CSV row with a label column).
- ``multilabel``: ``{"text": ..., "labels": ["billing", "urgent"]}`` (doccano also writes the list under ``label``).
- ``entities``: ``{"text": ..., "entities": [[start, end, "LABEL"], ...]}`` with character offsets, end exclusive
  (spaCy, doccano, Label Studio); ``{"start", "end", "label"}`` objects are read too, and doccano's ``label``.

:func:`read_answer` turns a record's value into the task's answer, or gives the reason it cannot (an empty
label list, offsets outside the text, overlapping spans, a value of the wrong type): the data layer counts
those as bad rows. :func:`infer_task` says which task a record's fields look like.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

from nlpops.tasks import TASKS, Span, TaskName

Answer = str | tuple[str, ...] | tuple[Span, ...]
"""One text's gold answer: a label, a set of labels (sorted, distinct) or spans (sorted by start)."""


def infer_task(record: Mapping[str, Any], label_field: str = "label") -> TaskName | None:
    """The task a record's fields say it is labelled for, or None when this record does not tell.

    ``entities`` → entities; a ``labels`` list → multilabel; a list under ``label_field``: of strings →
    multilabel, of ``[start, end, label]`` triples or span objects → entities (an empty list does not tell);
    anything else → classification.
    """
    if "entities" in record:
        return "entities"
    if isinstance(record.get("labels"), list):
        return "multilabel"
    value = record.get(label_field)
    if isinstance(value, list):
        if not value:
            return None
        return "entities" if isinstance(value[0], list | dict) else "multilabel"
    return "classification"


def answer_fields(task: TaskName, label_field: str) -> tuple[str, ...]:
    """The fields that may hold a task's answers, in the order they are looked for."""
    if task == "classification":
        return (label_field,)
    return tuple(dict.fromkeys((*TASKS[task].data_fields, label_field)))


def read_answer(task: TaskName, value: Any, text: str) -> tuple[Answer | None, str | None]:
    """One record's answer for ``task``: ``(answer, None)``, or ``(None, reason)`` when it is unusable.

    Args:
        task: the dataset's task.
        value: the record's value of the answer field (None when the field is missing).
        text: the record's text (span offsets must fall inside it).
    """
    if task == "multilabel":
        return _label_set(value)
    if task == "entities":
        return _spans(value, text)
    label = "" if value is None else str(value).strip()
    if isinstance(value, list | dict) or not label:
        return None, "empty value in the label field" if not label else "the label is a list or an object, not text"
    return label, None


def _label_set(value: Any) -> tuple[tuple[str, ...] | None, str | None]:
    if not isinstance(value, list):
        return None, f"the labels must be a list of strings, got {_kind(value)}"
    if not value:
        return None, "the label list is empty (every text needs at least one label)"
    for item in value:
        if not isinstance(item, str) or not item.strip():
            return None, f"every label must be a non-empty string, got {_kind(item)}"
    return tuple(sorted({item.strip() for item in value})), None


def _spans(value: Any, text: str) -> tuple[tuple[Span, ...] | None, str | None]:
    if value is None:
        return (), None  # a text without entities
    if not isinstance(value, list):
        return None, f"the entities must be a list of [start, end, label], got {_kind(value)}"
    spans = []
    for index, item in enumerate(value):
        span, reason = _span(item, text)
        if reason is not None:
            return None, f"entity {index}: {reason}"
        assert span is not None
        spans.append(span)
    spans.sort(key=lambda s: (s.start, s.end))
    for before, after in itertools.pairwise(spans):
        if after.start < before.end:
            return None, (
                f"overlapping entities [{before.start}, {before.end}) {before.label} and "
                f"[{after.start}, {after.end}) {after.label}"
            )
    return tuple(spans), None


def _span(item: Any, text: str) -> tuple[Span | None, str | None]:
    if isinstance(item, dict):
        parts: list[Any] = [item.get("start"), item.get("end"), item.get("label")]
    elif isinstance(item, list) and len(item) == 3:
        parts = list(item)
    else:
        return None, f"expected [start, end, label], got {_kind(item)}"
    start, end, label = parts
    if not _is_int(start) or not _is_int(end):
        return None, f"start and end must be integers, got {_kind(start)} and {_kind(end)}"
    if not isinstance(label, str) or not label.strip():
        return None, f"the label must be a non-empty string, got {_kind(label)}"
    if not 0 <= start < end <= len(text):
        return None, f"offsets [{start}, {end}) are outside the text of {len(text)} characters (or empty)"
    return Span(int(start), int(end), label.strip()), None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}.get(
        type(value), "an object"
    )


def answer_labels(task: TaskName, answer: Answer) -> Iterable[str]:
    """The labels an answer names (its label, its labels, or its spans' labels)."""
    if task == "classification" or task == "embedding":
        return (answer,) if isinstance(answer, str) else ()
    if task == "entities":
        return (span.label for span in answer if isinstance(span, Span))
    return (label for label in answer if isinstance(label, str))


__all__ = ["Answer", "answer_fields", "answer_labels", "infer_task", "read_answer"]
