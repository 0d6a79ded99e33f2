"""Rebuilding a lost ``registry.db`` from the verified bundles under ``artifacts/<name>/<version>/``.

The bundles are the registry's source of truth for versions: each folder is verified and becomes the
version its folder is named after. What only the database held is gone: aliases, their history, the event
log and attachments (profiles). The damaged file is kept beside the new one (``registry.db.damaged-<time>``),
never deleted.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from nlpops.bundle import load_bundle
from nlpops.errors import BundleError, RegistryError
from nlpops.registry._artifacts import ARTIFACTS_DIR
from nlpops.registry._sqlite_db import Database
from nlpops.registry._sqlite_records import EVENT_COLUMNS_NO_ID, VERSION_COLUMNS, dump_json
from nlpops.registry.base import is_model_name


@dataclass(frozen=True)
class RebuildReport:
    """What :func:`rebuild_database` did."""

    restored: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    kept_as: Path | None = None


def _healthy(db: Database) -> bool:
    if not db.exists():
        return False
    try:
        with closing(sqlite3.connect(db.path, timeout=db.timeout_s)) as conn:
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                return False
            conn.execute("SELECT COUNT(*) FROM versions").fetchone()
            return bool(conn.execute("PRAGMA quick_check").fetchone()[0] == "ok")
    except sqlite3.Error:
        return False


def _set_aside(db: Database, stamp: str) -> Path | None:
    if not db.exists():
        return None
    kept = db.path.with_name(f"{db.path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{db.path}{suffix}")
        if source.exists():
            source.rename(Path(f"{kept}{suffix}"))
    return kept


def rebuild_database(db: Database, root: Path, actor: str, now: str) -> RebuildReport:
    """Rebuild the database of the registry at ``root`` from its stored bundles.

    Args:
        db: the registry's database.
        root: the registry home (absolute).
        actor: recorded as ``created_by`` and in the ``registered`` events.
        now: the timestamp recorded for every restored version.

    Returns:
        The restored versions, the folders skipped (with the reason) and where the damaged file was kept.

    Raises:
        RegistryError: the database is healthy (nothing to rebuild), nothing is stored, or writing failed.
    """
    if _healthy(db):
        raise RegistryError(
            f'Registry database "{db.path}" is healthy; nothing to rebuild. (To start over, move the whole '
            "registry folder away.)"
        )
    artifacts = root / ARTIFACTS_DIR
    found: list[tuple[str, int, Path]] = []
    skipped: list[tuple[str, str]] = []
    for model in sorted(artifacts.iterdir() if artifacts.is_dir() else []):
        if not model.is_dir() or not is_model_name(model.name):
            skipped.append((model.name, "not a model name"))
            continue
        for folder in sorted(model.iterdir(), key=lambda p: (not p.name.isdecimal(), p.name.zfill(20))):
            if not (folder.is_dir() and folder.name.isdecimal() and int(folder.name) >= 1):
                skipped.append((f"{model.name}/{folder.name}", "not a version folder"))
                continue
            found.append((model.name, int(folder.name), folder))
    if not found:
        raise RegistryError(f'Nothing to rebuild: "{artifacts}" holds no stored versions.')
    stamp = now.replace(":", "").replace("-", "").replace(".", "")
    # Built beside the damaged file and renamed into place only when complete: a failure leaves no new,
    # empty-but-valid database behind (which would read as "no models").
    fresh = Database(db.path.with_name(f"{db.path.name}.rebuilding-{stamp}"), timeout_s=db.timeout_s)
    restored: list[tuple[str, int]] = []
    try:
        with fresh.write() as conn:
            for name, version, folder in found:
                try:
                    manifest = load_bundle(folder).manifest
                except BundleError as exc:
                    skipped.append((f"{name}/{version}", str(exc)))
                    continue
                conn.execute(
                    f"INSERT INTO versions ({VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        version,
                        folder.relative_to(root).as_posix(),
                        manifest.version,
                        manifest.family,
                        manifest.runtime,
                        now,
                        actor,
                        dump_json(dict(manifest.metrics), f'metrics of bundle "{folder}"'),
                    ),
                )
                conn.execute(
                    f"INSERT INTO events ({EVENT_COLUMNS_NO_ID}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (now, actor, "registered", name, version, None, None),
                )
                restored.append((name, version))
        kept_as = _set_aside(db, stamp)
        fresh.path.rename(db.path)
    except BaseException:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{fresh.path}{suffix}").unlink(missing_ok=True)
        raise
    return RebuildReport(restored, skipped, kept_as)


__all__ = ["RebuildReport", "rebuild_database"]
