"""Model references: how users name a model on the command line and in config.

A reference is one of:

- a bundle path: an existing directory, or anything containing ``/`` (or ``\\``) or starting with ``.``;
- ``NAME@ALIAS``: the version an alias points at (``intent@staging``);
- ``NAME:VERSION``: one version (``intent:3``);
- ``NAME``: short for ``NAME@production``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nlpops.errors import NotFoundError, RegistryError
from nlpops.registry.base import DEFAULT_ALIAS, ModelVersion, Registry, is_alias, is_model_name, version_number

RefKind = Literal["path", "alias", "version"]

_FORMS = "a bundle path (./models/intent), NAME, NAME@ALIAS (intent@staging) or NAME:VERSION (intent:3)"


@dataclass(frozen=True)
class ModelRef:
    """A parsed model reference: a bundle path, or a registry name with an alias or a version."""

    kind: RefKind
    text: str
    path: Path | None = None
    name: str | None = None
    alias: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        if self.kind == "path":
            return str(self.path)
        if self.kind == "version":
            return f"{self.name}:{self.version}"
        return f"{self.name}@{self.alias}"


def _shown(text: str) -> str:
    """``text`` in double quotes on one line (control characters escaped), cut at 100 characters."""
    return json.dumps(text if len(text) <= 100 else text[:97] + "...", ensure_ascii=False)


def _is_directory(text: str) -> bool:
    try:
        return Path(text).is_dir()
    except (OSError, ValueError):  # e.g. a name too long for the file system, or a NUL byte
        return False


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.startswith(".") or _is_directory(text)


def parse_ref(ref: str) -> ModelRef:
    """Parse a model reference (see the module docstring for the forms).

    Args:
        ref: the reference as the user typed it.

    Returns:
        The parsed reference.

    Raises:
        RegistryError: the reference is empty or malformed (the message shows the accepted forms).
    """
    if not isinstance(ref, str):
        raise RegistryError(f"A model reference must be a string, got {type(ref).__name__}. Use {_FORMS}.")
    text = ref.strip()
    if not text:
        raise RegistryError(f"The model reference is empty. Use {_FORMS}.")
    if _looks_like_path(text):
        return ModelRef(kind="path", text=ref, path=Path(text))
    if "@" in text:
        name, _, alias = text.partition("@")
        _check_name(name, ref)
        if alias.isdecimal() and alias.isascii():
            raise RegistryError(
                f"Model reference {_shown(ref)}: {_shown(alias)} is a version number, not an alias. Use {name}:{alias}."
            )
        if not is_alias(alias):
            raise RegistryError(
                f'Model reference {_shown(ref)}: {_shown(alias)} is not a valid alias (lowercase letters, digits, "_" '
                f'or "-", starting with a letter, e.g. "{name}@production").'
            )
        return ModelRef(kind="alias", text=ref, name=name, alias=alias)
    if ":" in text:
        name, _, version = text.partition(":")
        _check_name(name, ref)
        number = version_number(version, name)  # NotFoundError beyond the largest version number
        if number is None or number < 1:
            hint = f" For an alias use {name}@{version}." if is_alias(version) else ""
            raise RegistryError(
                f"Model reference {_shown(ref)}: {_shown(version)} is not a version number (1, 2, ...).{hint} "
                f"Use {_FORMS}."
            )
        return ModelRef(kind="version", text=ref, name=name, version=number)
    _check_name(text, ref)
    return ModelRef(kind="alias", text=ref, name=text, alias=DEFAULT_ALIAS)


def _check_name(name: str, ref: str) -> None:
    if not is_model_name(name):
        raise RegistryError(
            f'Model reference {_shown(ref)}: {_shown(name)} is not a valid model name (letters, digits, ".", "_" or '
            f'"-", starting with a letter or digit). Use {_FORMS}.'
        )


def resolve_ref(ref: str | ModelRef, registry: Registry | None) -> tuple[Path, ModelVersion | None]:
    """The bundle directory a reference designates, and its registry entry when it came from the registry.

    Args:
        ref: a reference string or an already parsed :class:`ModelRef`.
        registry: the registry to look names up in; may be None when only paths are expected.

    Returns:
        ``(bundle_dir, entry)``; ``entry`` is None for a bundle path.

    Raises:
        RegistryError: the reference is malformed, or names a registry model but no registry was given.
        NotFoundError: the bundle path does not exist, or the model, version or alias is unknown.
    """
    parsed = ref if isinstance(ref, ModelRef) else parse_ref(ref)
    if parsed.kind == "path":
        assert parsed.path is not None
        if not _is_directory(str(parsed.path)):
            raise NotFoundError(
                f"Bundle {_shown(str(parsed.path))} does not exist. Check the path, or use NAME@ALIAS for a "
                "registered model."
            )
        return parsed.path, None
    if registry is None:
        raise RegistryError(
            f'"{parsed.text}" names a registered model, but no registry is configured here. '
            "Pass a bundle path instead, or set registry.home in nlpops.yaml."
        )
    assert parsed.name is not None
    selector = str(parsed.version) if parsed.kind == "version" else str(parsed.alias)
    entry = registry.resolve(parsed.name, selector)
    return entry.bundle_path, entry


__all__ = ["ModelRef", "RefKind", "parse_ref", "resolve_ref"]
