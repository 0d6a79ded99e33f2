"""Model names: the one rule every entry point checks (config ``name``, ``--name``, the Python API, the
registry, deployment plans).

A model name becomes a folder (``models/<name>``, ``artifacts/<name>/``), part of a container image and of
Kubernetes object names, and a label in metrics, so it is kept to 1-64 letters, digits, ``.``, ``_`` and
``-``, starting with a letter or a digit: no path separators, no ``..``, no spaces, no newlines, no quotes.
"""

from __future__ import annotations

import re

MAX_MODEL_NAME_CHARS = 64
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MODEL_NAME_RULE = (
    f"use 1-{MAX_MODEL_NAME_CHARS} letters, digits, '.', '_' or '-', starting with a letter or digit "
    '(e.g. "intent-en")'
)


def is_model_name(text: object) -> bool:
    """Whether ``text`` is a valid model name (see the module docstring)."""
    return isinstance(text, str) and MODEL_NAME_PATTERN.fullmatch(text) is not None


def model_name_problem(name: object) -> str | None:
    """The message for an invalid model name (what is wrong and the rule), or None for a valid one.

    Each caller raises it as the error of its layer (ConfigError, RegistryError, PlanError).
    """
    if is_model_name(name):
        return None
    shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
    return f"Invalid model name {shown}: {MODEL_NAME_RULE}."


__all__ = ["MAX_MODEL_NAME_CHARS", "MODEL_NAME_PATTERN", "MODEL_NAME_RULE", "is_model_name", "model_name_problem"]
