"""What every registry backend shares: the ``Registry`` protocol, its records, and the rules for names.

A registry holds named models with immutable, numbered versions (1, 2, ... per name), movable aliases
(``production``, ``staging``, any other) and an append-only event log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from nlpops.errors import NotFoundError, RegistryError
from nlpops.names import is_model_name, model_name_problem

Action = Literal["registered", "promoted", "rolled_back"]
ACTIONS: tuple[Action, ...] = ("registered", "promoted", "rolled_back")
DEFAULT_ALIAS = "production"
MAX_VERSION = 2**63 - 1  # the largest SQLite INTEGER (and MLflow's int64 version numbers)

_ALIAS = re.compile(r"[a-z][a-z0-9_-]*")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class ModelVersion:
    """One registered, immutable version of a named model."""

    name: str
    version: int
    bundle_path: Path
    bundle_version: str
    family: str
    runtime: str
    created_at: str
    created_by: str
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RegistryEvent:
    """One entry of the append-only event log."""

    id: int
    ts: str
    actor: str
    action: Action
    name: str
    version: int
    alias: str | None = None
    previous_version: int | None = None


@runtime_checkable
class Registry(Protocol):
    """Named models, immutable versions, movable aliases and an event log, whatever the storage."""

    @property
    def location(self) -> str:
        """Where the registry lives, as the user named it (for messages)."""
        ...

    def register(self, bundle_dir: Path | str, name: str | None = None) -> ModelVersion: ...

    def list_models(self) -> list[str]: ...

    def list_versions(self, name: str) -> list[ModelVersion]: ...

    def get(self, name: str, version: int) -> ModelVersion: ...

    def aliases(self, name: str) -> dict[str, int]: ...

    def promote(self, name: str, version: int, alias: str = DEFAULT_ALIAS) -> RegistryEvent: ...

    def rollback(self, name: str, alias: str = DEFAULT_ALIAS) -> RegistryEvent: ...

    def resolve(self, name: str, alias_or_version: str) -> ModelVersion: ...

    def events(self, name: str | None = None, limit: int | None = None) -> list[RegistryEvent]: ...

    def alias_target(self, name: str, alias: str) -> int | None: ...

    def save_attachment(self, name: str, version: int, key: str, data: dict[str, Any]) -> None: ...

    def load_attachment(self, name: str, version: int, key: str) -> dict[str, Any] | None: ...


def is_alias(text: str) -> bool:
    """Whether ``text`` is a valid alias name (``[a-z][a-z0-9_-]*``)."""
    return _ALIAS.fullmatch(text) is not None


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a valid model name (the rule of :mod:`nlpops.names`).

    Args:
        name: the model name to check.

    Returns:
        The name, unchanged.

    Raises:
        RegistryError: the name is empty, too long, or has characters other than letters, digits and ``._-``.
    """
    problem = model_name_problem(name)
    if problem is not None:
        raise RegistryError(f"{problem} Set name in nlpops.yaml or pass --name.")
    return name


def check_alias(alias: str) -> str:
    """Return ``alias`` if it is a valid alias name.

    Args:
        alias: the alias to check, e.g. ``"production"``.

    Returns:
        The alias, unchanged.

    Raises:
        RegistryError: the alias does not match ``[a-z][a-z0-9_-]*``.
    """
    if not isinstance(alias, str) or not is_alias(alias):
        raise RegistryError(
            f"Invalid alias {alias!r}: an alias is lowercase letters, digits, '_' or '-', starting with a letter "
            '(e.g. "production", "staging", "canary-2").'
        )
    return alias


def check_version(version: object, name: str | None = None) -> int:
    """Return ``version`` if it is a valid version number (an int >= 1, not a bool).

    Args:
        version: the version number to check.
        name: the model it is a version of (for the message).

    Returns:
        The version as an int.

    Raises:
        RegistryError: the version is not an integer >= 1.
        NotFoundError: the version is beyond :data:`MAX_VERSION` (no registry can hold it).
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise RegistryError(f"Invalid version {version!r}: versions are whole numbers starting at 1.")
    if version > MAX_VERSION:
        raise _beyond(str(version), name)
    return version


def version_number(text: str, name: str) -> int | None:
    """The version number ``text`` spells in ASCII digits, or None when it is not a number.

    Raises:
        NotFoundError: the number is beyond :data:`MAX_VERSION` (checked before converting: Python refuses to
            convert thousands of digits).
    """
    if not (text.isdecimal() and text.isascii()):
        return None
    if len(text.lstrip("0")) > len(str(MAX_VERSION)) or int(text) > MAX_VERSION:
        raise _beyond(text, name)
    return int(text)


def _beyond(text: str, name: str | None) -> NotFoundError:
    shown = text if len(text) <= 30 else text[:27] + "..."
    model = f'Model "{name}"' if name else "The model"
    return NotFoundError(f"{model} has no version {shown}: version numbers end at {MAX_VERSION}.")


def check_attachment_key(key: str) -> str:
    """Return ``key`` if it is a valid attachment key.

    Args:
        key: the attachment key, e.g. ``"profile"``.

    Returns:
        The key, unchanged.

    Raises:
        RegistryError: the key is empty or has characters other than letters, digits and ``._-``.
    """
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
        raise RegistryError(
            f"Invalid attachment key {key!r}: use 1-128 letters, digits, '.', '_' or '-', "
            'starting with a letter or digit (e.g. "profile").'
        )
    return key


__all__ = [
    "ACTIONS",
    "DEFAULT_ALIAS",
    "MAX_VERSION",
    "Action",
    "ModelVersion",
    "Registry",
    "RegistryEvent",
    "check_alias",
    "check_attachment_key",
    "check_model_name",
    "check_version",
    "is_alias",
    "is_model_name",
    "version_number",
]
