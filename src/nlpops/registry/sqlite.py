"""The embedded registry: a SQLite database ``home/registry.db`` plus ``home/artifacts/<name>/<version>/``.

Safe under concurrent processes: version numbers are assigned inside ``BEGIN IMMEDIATE`` transactions, and
each bundle is copied and verified in a staging folder before it is renamed into place under the same lock.
"""

from __future__ import annotations

import getpass
import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nlpops.bundle import load_bundle
from nlpops.errors import RegistryError
from nlpops.registry._artifacts import artifact_dir, discard, highest_stored, place, stage_bundle, stored_versions
from nlpops.registry._not_found import no_alias, no_model, no_version
from nlpops.registry._sqlite_db import DB_NAME, Database
from nlpops.registry._sqlite_rebuild import RebuildReport, rebuild_database
from nlpops.registry._sqlite_records import (
    EVENT_COLUMNS,
    EVENT_COLUMNS_NO_ID,
    VERSION_COLUMNS,
    dump_json,
    event_from_row,
    load_json,
    version_from_row,
)
from nlpops.registry.base import (
    DEFAULT_ALIAS,
    Action,
    ModelVersion,
    RegistryEvent,
    check_alias,
    check_attachment_key,
    check_model_name,
    check_version,
    version_number,
)


def current_user() -> str:
    """The OS user running this process (``uid:N`` when the system has no name for it)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SqliteRegistry:
    """The default registry: SQLite plus a local artifact folder under ``home``.

    Args:
        home: the registry folder (created on the first write; reads of a missing home find nothing).
        actor: who is recorded in ``created_by`` and events; defaults to the OS user.
        clock: returns the current time (UTC); tests may pass a fixed clock.
        timeout_s: how long a write waits for another process's transaction before giving up.
    """

    def __init__(
        self,
        home: Path | str,
        *,
        actor: str | None = None,
        clock: Callable[[], datetime] = _utc_now,
        timeout_s: float = 60.0,
    ) -> None:
        self.home = Path(home)
        self._root = self.home.resolve()
        self._actor = actor if actor is not None else current_user()
        self._clock = clock
        self._db = Database(self._root / DB_NAME, timeout_s=timeout_s, stored=lambda: stored_versions(self._root))

    def __repr__(self) -> str:
        return f"SqliteRegistry({str(self.home)!r})"

    @property
    def location(self) -> str:
        """The registry home as the user named it."""
        return str(self.home)

    # -- writes -----------------------------------------------------------------------------------

    def register(self, bundle_dir: Path | str, name: str | None = None) -> ModelVersion:
        """Verify a bundle, store a copy of it, and record it as the next version of ``name``.

        Args:
            bundle_dir: the bundle directory to register.
            name: the model name; defaults to the manifest's ``name``.

        Returns:
            The new version.

        Raises:
            BundleError: the bundle is missing, malformed or fails verification (nothing is written).
            RegistryError: invalid name, or the copy or the database write failed (nothing is kept).
        """
        bundle = load_bundle(bundle_dir)
        name = check_model_name(bundle.manifest.name if name is None else name)
        staging, stored = stage_bundle(bundle, self._root)
        manifest = stored.manifest
        try:
            with self._db.write() as conn:
                self._refuse_case_clash(conn, name)
                row = conn.execute("SELECT MAX(version) FROM versions WHERE name = ?", (name,)).fetchone()
                # past every folder on disk too: numbers are never reused (see _artifacts)
                version = max(row[0] or 0, highest_stored(self._root, name)) + 1
                target = artifact_dir(self._root, name, version)
                now = self._now()
                entry = ModelVersion(
                    name=name,
                    version=version,
                    bundle_path=target,
                    bundle_version=manifest.version,
                    family=manifest.family,
                    runtime=manifest.runtime,
                    created_at=now,
                    created_by=self._actor,
                    metrics=dict(manifest.metrics),
                )
                conn.execute(
                    f"INSERT INTO versions ({VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        version,
                        target.relative_to(self._root).as_posix(),
                        entry.bundle_version,
                        entry.family,
                        entry.runtime,
                        now,
                        self._actor,
                        dump_json(entry.metrics, f'metrics of bundle "{bundle.path}"'),
                    ),
                )
                self._log(conn, "registered", name, version)
                # Last step before the commit. If the commit fails, the folder stays behind without a row:
                # invisible to readers; the next registration takes the number after it.
                place(staging, target)
        finally:
            discard(staging)  # already gone after a successful rename; removes the copy after any failure
        return entry

    def promote(self, name: str, version: int, alias: str = DEFAULT_ALIAS) -> RegistryEvent:
        """Point ``alias`` of model ``name`` at ``version``, remembering its previous target for rollback.

        Args:
            name: the model name.
            version: an existing version of the model.
            alias: the alias to move (``[a-z][a-z0-9_-]*``), ``production`` by default.

        Returns:
            The ``promoted`` event.

        Raises:
            RegistryError: invalid alias or version number.
            NotFoundError: unknown model or version.
        """
        check_alias(alias)
        check_version(version, name)
        with self._db.write() as conn:
            self._require_version(conn, name, version)
            previous = self._alias_in(conn, name, alias)
            if previous is not None and previous != version:
                conn.execute(
                    "INSERT INTO alias_history (name, alias, version) VALUES (?, ?, ?)", (name, alias, previous)
                )
            self._set_alias(conn, name, alias, version)
            return self._log(conn, "promoted", name, version, alias, previous)

    def rollback(self, name: str, alias: str = DEFAULT_ALIAS) -> RegistryEvent:
        """Move ``alias`` back to the target it had before its last move; repeat to go further back.

        Args:
            name: the model name.
            alias: the alias to roll back, ``production`` by default.

        Returns:
            The ``rolled_back`` event (``version`` is the restored target, ``previous_version`` the one left).

        Raises:
            NotFoundError: unknown model, or the model has no such alias.
            RegistryError: the alias has no earlier target to roll back to.
        """
        check_alias(alias)
        with self._db.write() as conn:
            current = self._alias_in(conn, name, alias)
            if current is None:
                raise no_alias(name, alias, self._require_model(conn, name))
            row = conn.execute(
                "SELECT id, version FROM alias_history WHERE name = ? AND alias = ? ORDER BY id DESC LIMIT 1",
                (name, alias),
            ).fetchone()
            if row is None:
                raise RegistryError(
                    f'Alias "{alias}" of model "{name}" has nothing to roll back to: it has pointed at version '
                    f"{current} since it was first promoted. Promote another version instead: "
                    f"nlpops registry promote {name} VERSION --alias {alias}"
                )
            conn.execute("DELETE FROM alias_history WHERE id = ?", (row["id"],))
            self._set_alias(conn, name, alias, row["version"])
            return self._log(conn, "rolled_back", name, row["version"], alias, current)

    def save_attachment(self, name: str, version: int, key: str, data: dict[str, Any]) -> None:
        """Store a JSON object beside a version under ``key`` (replacing any previous one).

        Args:
            name: the model name.
            version: an existing version.
            key: the attachment key, e.g. ``"profile"``.
            data: a JSON-serializable dict (no NaN or infinity).

        Raises:
            RegistryError: invalid key or data that is not a JSON object.
            NotFoundError: unknown model or version.
        """
        check_attachment_key(key)
        check_version(version, name)
        if not isinstance(data, dict):
            raise RegistryError(f'Attachment "{key}" must be a dict (a JSON object), got {type(data).__name__}.')
        text = dump_json(data, f'attachment "{key}"')
        with self._db.write() as conn:
            self._require_version(conn, name, version)
            conn.execute(
                "INSERT INTO attachments (name, version, key, data, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (name, version, key) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
                (name, version, key, text, self._now()),
            )

    def rebuild(self) -> RebuildReport:
        """Rebuild a lost ``registry.db`` from the bundles under ``artifacts/`` (see :mod:`._sqlite_rebuild`).

        Raises:
            RegistryError: the database is healthy, nothing is stored, or writing failed.
        """
        return rebuild_database(self._db, self._root, self._actor, self._now())

    # -- reads ------------------------------------------------------------------------------------

    def list_models(self) -> list[str]:
        """Names of all registered models, sorted."""
        return [row[0] for row in self._db.query("SELECT DISTINCT name FROM versions ORDER BY name")]

    def list_versions(self, name: str) -> list[ModelVersion]:
        """All versions of a model, oldest first.

        Raises:
            NotFoundError: no model with that name.
        """
        rows = self._db.query(f"SELECT {VERSION_COLUMNS} FROM versions WHERE name = ? ORDER BY version", (name,))
        if not rows:
            raise no_model(name, self.location, self._known())
        return [version_from_row(row, self._root) for row in rows]

    def get(self, name: str, version: int) -> ModelVersion:
        """One version of a model.

        Raises:
            RegistryError: the version is not a whole number >= 1.
            NotFoundError: unknown model or version.
        """
        check_version(version, name)
        rows = self._db.query(f"SELECT {VERSION_COLUMNS} FROM versions WHERE name = ? AND version = ?", (name, version))
        if not rows:
            latest = self._latest(name)
            if latest is None:
                raise no_model(name, self.location, self._known())
            raise no_version(name, version, latest)
        return version_from_row(rows[0], self._root)

    def aliases(self, name: str) -> dict[str, int]:
        """The aliases of a model and the versions they point at.

        Raises:
            NotFoundError: no model with that name.
        """
        rows = self._db.query("SELECT alias, version FROM aliases WHERE name = ? ORDER BY alias", (name,))
        if not rows and self._latest(name) is None:
            raise no_model(name, self.location, self._known())
        return {row["alias"]: row["version"] for row in rows}

    def alias_target(self, name: str, alias: str) -> int | None:
        """The version an alias points at, or None (unknown model or alias): a cheap poll for serving."""
        rows = self._db.query("SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias))
        return rows[0][0] if rows else None

    def resolve(self, name: str, alias_or_version: str) -> ModelVersion:
        """The version an alias (``"production"``) or a version number (``"3"``) designates.

        Raises:
            RegistryError: the text is neither a version number nor a valid alias.
            NotFoundError: unknown model, version or alias.
        """
        text = str(alias_or_version).strip()
        number = version_number(text, name)
        if number is not None:
            return self.get(name, number)
        check_alias(text)
        target = self.alias_target(name, text)
        if target is None:
            latest = self._latest(name)
            if latest is None:
                raise no_model(name, self.location, self._known())
            raise no_alias(name, text, latest)
        return self.get(name, target)

    def events(self, name: str | None = None, limit: int | None = None) -> list[RegistryEvent]:
        """The event log, oldest first; ``limit`` keeps the most recent ``limit`` events.

        Raises:
            RegistryError: ``limit`` is negative.
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise RegistryError(f"limit must be a whole number >= 0 or None, got {limit!r}.")
        params: list[str | int] = [] if name is None else [name]
        where = "" if name is None else "WHERE name = ?"
        sql = f"SELECT {EVENT_COLUMNS} FROM events {where} ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._db.query(sql, params)
        return [event_from_row(row) for row in reversed(rows)]

    def load_attachment(self, name: str, version: int, key: str) -> dict[str, Any] | None:
        """The JSON object stored under ``key`` beside a version, or None if there is none.

        Raises:
            NotFoundError: unknown model or version.
            RegistryError: the stored attachment is not valid JSON.
        """
        check_attachment_key(key)
        check_version(version, name)
        rows = self._db.query(
            "SELECT data FROM attachments WHERE name = ? AND version = ? AND key = ?", (name, version, key)
        )
        if not rows:
            self.get(name, version)  # NotFoundError for an unknown model or version
            return None
        return load_json(rows[0][0], f'attachment "{key}" of {name}:{version} in "{self.home}"')

    # -- helpers ----------------------------------------------------------------------------------

    def _now(self) -> str:
        return self._clock().astimezone(UTC).isoformat(timespec="milliseconds")

    def _log(
        self,
        conn: sqlite3.Connection,
        action: Action,
        name: str,
        version: int,
        alias: str | None = None,
        previous: int | None = None,
    ) -> RegistryEvent:
        ts = self._now()
        cursor = conn.execute(
            f"INSERT INTO events ({EVENT_COLUMNS_NO_ID}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (ts, self._actor, action, name, version, alias, previous),
        )
        return RegistryEvent(cursor.lastrowid or 0, ts, self._actor, action, name, version, alias, previous)

    def _latest(self, name: str) -> int | None:
        rows = self._db.query("SELECT MAX(version) FROM versions WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    @staticmethod
    def _alias_in(conn: sqlite3.Connection, name: str, alias: str) -> int | None:
        row = conn.execute("SELECT version FROM aliases WHERE name = ? AND alias = ?", (name, alias)).fetchone()
        return None if row is None else row[0]

    def _set_alias(self, conn: sqlite3.Connection, name: str, alias: str, version: int) -> None:
        conn.execute(
            "INSERT INTO aliases (name, alias, version, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
            (name, alias, version, self._now()),
        )

    def _require_model(self, conn: sqlite3.Connection, name: str) -> int:
        latest: int | None = conn.execute("SELECT MAX(version) FROM versions WHERE name = ?", (name,)).fetchone()[0]
        if latest is None:
            raise no_model(name, self.location, self._known(conn))
        return latest

    def _require_version(self, conn: sqlite3.Connection, name: str, version: int) -> None:
        latest = self._require_model(conn, name)
        found = conn.execute("SELECT 1 FROM versions WHERE name = ? AND version = ?", (name, version)).fetchone()
        if found is None:
            raise no_version(name, version, latest)

    def _refuse_case_clash(self, conn: sqlite3.Connection, name: str) -> None:
        row = conn.execute(
            "SELECT name FROM versions WHERE lower(name) = lower(?) AND name != ? LIMIT 1", (name, name)
        ).fetchone()
        if row is not None:
            raise RegistryError(
                f'Model name "{name}" differs only in case from the registered model "{row[0]}". '
                f'Use "{row[0]}" (or a clearly different name).'
            )

    def _known(self, conn: sqlite3.Connection | None = None) -> list[str]:
        sql = "SELECT DISTINCT name FROM versions ORDER BY name"
        return [row[0] for row in (conn.execute(sql).fetchall() if conn is not None else self._db.query(sql))]


__all__ = ["SqliteRegistry", "current_user"]
