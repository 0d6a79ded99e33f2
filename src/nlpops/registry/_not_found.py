"""The registry's "not found" errors, worded once so every backend and command says the same thing."""

from __future__ import annotations

from collections.abc import Sequence

from nlpops.errors import NotFoundError
from nlpops.registry.base import DEFAULT_ALIAS

_MAX_LISTED = 20


def no_model(name: str, location: str, known: Sequence[str]) -> NotFoundError:
    """No model called ``name`` in the registry at ``location``; ``known`` lists the models that exist."""
    listing = ", ".join(known[:_MAX_LISTED]) + (", ..." if len(known) > _MAX_LISTED else "") if known else "none"
    return NotFoundError(
        f'No model named "{name}" in the registry at {location} (known: {listing}). '
        "Register one: nlpops train --register"
    )


def no_version(name: str, version: int, latest: int) -> NotFoundError:
    """Model ``name`` exists but has no version ``version``."""
    return NotFoundError(
        f'Model "{name}" has no version {version} (latest is {latest}). List its versions: nlpops registry list {name}'
    )


def no_alias(name: str, alias: str, latest: int) -> NotFoundError:
    """Model ``name`` exists but has no alias ``alias``; suggests promoting the latest version."""
    flag = "" if alias == DEFAULT_ALIAS else f" --alias {alias}"
    return NotFoundError(
        f'Model "{name}" has no alias "{alias}". Promote a version first: nlpops registry promote {name} {latest}{flag}'
    )


__all__ = ["no_alias", "no_model", "no_version"]
