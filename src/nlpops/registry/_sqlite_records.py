"""Rows of the registry database to records (:class:`ModelVersion`, :class:`RegistryEvent`) and back."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from nlpops.errors import RegistryError
from nlpops.registry.base import ModelVersion, RegistryEvent

VERSION_COLUMNS = "name, version, bundle_dir, bundle_version, family, runtime, created_at, created_by, metrics"
EVENT_COLUMNS_NO_ID = "ts, actor, action, name, version, alias, previous_version"
EVENT_COLUMNS = "id, " + EVENT_COLUMNS_NO_ID


def version_from_row(row: sqlite3.Row, root: Path) -> ModelVersion:
    """The version a ``versions`` row describes; ``bundle_dir`` is stored relative to the registry home."""
    return ModelVersion(
        name=row["name"],
        version=row["version"],
        bundle_path=root / row["bundle_dir"],
        bundle_version=row["bundle_version"],
        family=row["family"],
        runtime=row["runtime"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        metrics=load_json(row["metrics"], f"metrics of {row['name']}:{row['version']}"),
    )


def event_from_row(row: sqlite3.Row) -> RegistryEvent:
    """The event an ``events`` row describes."""
    return RegistryEvent(
        id=row["id"],
        ts=row["ts"],
        actor=row["actor"],
        action=row["action"],
        name=row["name"],
        version=row["version"],
        alias=row["alias"],
        previous_version=row["previous_version"],
    )


def dump_json(data: dict[str, Any], what: str) -> str:
    """``data`` as JSON text; RegistryError (naming ``what``) if it holds something JSON cannot represent."""
    try:
        return json.dumps(data, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise RegistryError(
            f"The {what} cannot be stored as JSON ({exc}). Use only dicts (with string keys), lists, strings, "
            "numbers, booleans and None."
        ) from exc


def load_json(text: str, what: str) -> dict[str, Any]:
    """Parse JSON text stored in the database; RegistryError (naming ``what``) if it is corrupt."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"The stored {what} is corrupt ({exc}). Save it again.") from exc
    if not isinstance(value, dict):
        raise RegistryError(f"The stored {what} is not a JSON object. Save it again.")
    return value


__all__ = [
    "EVENT_COLUMNS",
    "EVENT_COLUMNS_NO_ID",
    "VERSION_COLUMNS",
    "dump_json",
    "event_from_row",
    "load_json",
    "version_from_row",
]
