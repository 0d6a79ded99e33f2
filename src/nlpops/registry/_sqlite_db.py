"""The SQLite database behind :class:`~nlpops.registry.sqlite.SqliteRegistry`: schema, connections, transactions.

One connection per operation (so a registry object may be shared between threads), WAL journal, a busy
timeout, and every write inside ``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing.
sqlite3 errors are translated here into :class:`~nlpops.errors.RegistryError` with a message that says
what to do.

The file and its schema are created by the first write, never by a read, and never over stored versions:
a missing, empty (0 bytes) or uninitialised ``registry.db`` beside a non-empty ``artifacts/`` folder means
the database was lost, and starting a new one would reuse the stored versions' numbers. Every access then
refuses with :data:`RESTORE_OR_REBUILD` until the file is restored or rebuilt (``nlpops registry rebuild``).
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

from nlpops.errors import RegistryError

DB_NAME = "registry.db"
DB_SCHEMA_VERSION = 1
RESTORE_OR_REBUILD = "Restore registry.db from a backup, or rebuild it from the stored bundles: nlpops registry rebuild"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS versions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL CHECK (version >= 1),
        bundle_dir TEXT NOT NULL,
        bundle_version TEXT NOT NULL,
        family TEXT NOT NULL,
        runtime TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        metrics TEXT NOT NULL,
        PRIMARY KEY (name, version)
    )""",
    """CREATE TRIGGER IF NOT EXISTS versions_immutable BEFORE UPDATE ON versions
        BEGIN SELECT RAISE(ABORT, 'registered versions are immutable'); END""",
    """CREATE TABLE IF NOT EXISTS aliases (
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (name, alias),
        FOREIGN KEY (name, version) REFERENCES versions (name, version)
    )""",
    # A stack per (name, alias) of the targets an alias had before each move; rollback pops it.
    """CREATE TABLE IF NOT EXISTS alias_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        version INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS alias_history_by_alias ON alias_history (name, alias, id)",
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('registered', 'promoted', 'rolled_back')),
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        alias TEXT,
        previous_version INTEGER
    )""",
    "CREATE INDEX IF NOT EXISTS events_by_name ON events (name, id)",
    """CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
    """CREATE TABLE IF NOT EXISTS attachments (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        key TEXT NOT NULL,
        data TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (name, version, key),
        FOREIGN KEY (name, version) REFERENCES versions (name, version)
    )""",
)


class Database:
    """The registry's SQLite file. Creates the file and schema on the first write, never on a read.

    Args:
        path: the database file.
        timeout_s: how long a write waits for another process's transaction.
        stored: describes the stored versions beside the database (``"3 stored versions under ..."``), or
            None when there are none; a database that is absent or uninitialised while this is not None is lost.
    """

    def __init__(self, path: Path, *, timeout_s: float = 60.0, stored: Callable[[], str | None] = lambda: None) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._stored = stored

    def exists(self) -> bool:
        """Whether the database file exists (a registry nobody wrote to has none)."""
        return self.path.is_file()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run one read-only statement; an absent (or empty, uninitialised) database with no stored versions
        reads as empty. Nothing is written.

        Raises:
            RegistryError: the database is lost (stored versions without it), unreadable, corrupt, locked for
                too long, or from a newer nlpops.
        """
        if not self.exists():
            self._refuse_if_lost(None)
            return []
        try:
            with closing(self._connect(initialise=False)) as conn:
                if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                    self._refuse_if_lost(conn)
                    return []
                return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self.translate(exc) from exc

    def lost(self) -> str | None:
        """The stored versions the database should hold but does not (it is missing, empty or uninitialised).

        Returns:
            A description such as ``"3 stored versions under .../artifacts"``, or None when the database is
            initialised or nothing is stored.

        Raises:
            RegistryError: the database cannot be read.
        """
        try:
            if self.exists():
                with closing(sqlite3.connect(self.path, timeout=self.timeout_s)) as conn:
                    if conn.execute("PRAGMA user_version").fetchone()[0] != 0:
                        return None
            return self._stored()
        except sqlite3.Error:
            return self._stored()

    def _refuse_if_lost(self, conn: sqlite3.Connection | None) -> None:
        """RegistryError when versions are stored but the database (absent: ``conn`` None) is not initialised.

        The database is checked again after the artifacts: another process may have just initialised it and
        stored its first version.
        """
        stored = self._stored()
        if stored is None:
            return
        if conn is None:
            if self.exists():
                return  # created meanwhile by another process; checked again once connected
            state = "does not exist"
        elif conn.execute("PRAGMA user_version").fetchone()[0] != 0:
            return
        else:
            state = "is empty (0 bytes)" if self.path.stat().st_size == 0 else "is not initialised"
        raise RegistryError(
            f'Registry database "{self.path}" {state}, but the registry holds {stored}: nlpops will not start '
            f"a new database over them (that would reuse their version numbers). {RESTORE_OR_REBUILD}"
        )

    @contextmanager
    def write(self, *, over_stored: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE``: committed when the block ends, rolled back if it raises.

        Args:
            over_stored: create the schema even though versions are stored (only to rebuild the database).

        Raises:
            RegistryError: the database cannot be created, opened or written, or stayed locked too long.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RegistryError(
                f'Cannot create the registry folder "{self.path.parent}": {exc.strerror}. '
                "Check the path and its permissions (registry.home in nlpops.yaml or NLPOPS_HOME)."
            ) from exc
        if not self.exists() and not over_stored:
            self._refuse_if_lost(None)
        try:
            conn = self._connect(initialise=True, over_stored=over_stored)
        except sqlite3.Error as exc:
            raise self.translate(exc) from exc
        with closing(conn):
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self.translate(exc) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    # The original error says more; closing the connection discards the transaction anyway.
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self.translate(exc) from exc
                raise

    def translate(self, exc: sqlite3.Error) -> RegistryError:
        """The RegistryError that explains a sqlite3 error on this database."""
        text = str(exc)
        lowered = text.lower()
        where = f'Registry database "{self.path}"'
        if "not a database" in lowered or "malformed" in lowered or "file is encrypted" in lowered:
            return RegistryError(f"{where} is corrupt or not an nlpops registry ({text}). {RESTORE_OR_REBUILD}")
        if "locked" in lowered or "busy" in lowered:
            return RegistryError(
                f"{where} is locked by another process (waited up to {self.timeout_s:g} s). "
                "Retry, and look for a stuck nlpops process."
            )
        if "readonly" in lowered or "read-only" in lowered:
            return RegistryError(f"{where} is read-only. Check the file's permissions, or use a writable home.")
        if "unable to open" in lowered:
            return RegistryError(f"{where} cannot be opened. Check that the folder exists and is readable/writable.")
        return RegistryError(f"{where} failed: {text}. Retry; if it persists, check the disk and the file.")

    def _connect(self, *, initialise: bool, over_stored: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            if initialise:
                self._ensure_schema(conn, over_stored=over_stored)
            elif conn.execute("PRAGMA user_version").fetchone()[0] > DB_SCHEMA_VERSION:
                raise self._newer_schema(conn.execute("PRAGMA user_version").fetchone()[0])
        except BaseException:
            conn.close()
            raise
        return conn

    def _ensure_schema(self, conn: sqlite3.Connection, *, over_stored: bool) -> None:
        found = conn.execute("PRAGMA user_version").fetchone()[0]
        if found == DB_SCHEMA_VERSION:
            return
        if found > DB_SCHEMA_VERSION:
            raise self._newer_schema(found)
        if not over_stored:
            self._refuse_if_lost(conn)  # before switching to WAL, which writes to the file
        self._enable_wal(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                if not over_stored:
                    self._refuse_if_lost(conn)  # again under the lock: no other process can store a version now
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {DB_SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _newer_schema(self, found: int) -> RegistryError:
        return RegistryError(
            f'Registry database "{self.path}" has schema v{found}; this nlpops reads v{DB_SCHEMA_VERSION}. '
            "Upgrade nlpops: pip install -U nlpops"
        )

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL (persistent; readers then run while a writer commits).

        SQLite answers "database is locked" at once, without waiting, when another connection touches the file
        during the switch, so a new database opened by several processes at the same moment needs a retry.
        """
        deadline = time.monotonic() + self.timeout_s
        pause_s = 0.005
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
            time.sleep(pause_s * (1 + random.random()))
            pause_s = min(pause_s * 2, 0.1)
