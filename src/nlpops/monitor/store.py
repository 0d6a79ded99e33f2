"""The local store of live statistics: one SQLite file, one row per (flush, model, version, language).

Rows hold aggregate counts only. Texts go to a separate table, and only when the caller asks
(``monitoring.store_texts``), already redacted when redaction is on.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpops.errors import ConfigError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS window_stats (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_start REAL NOT NULL,
    ts_end REAL NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    lang TEXT NOT NULL,
    rows INTEGER NOT NULL,
    length_hist TEXT NOT NULL,
    confidence_hist TEXT NOT NULL,
    label_counts TEXT NOT NULL,
    tokens INTEGER NOT NULL DEFAULT 0,
    oov_tokens INTEGER NOT NULL DEFAULT 0,
    task_counts TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS window_stats_model ON window_stats (model, version, ts_end);
CREATE TABLE IF NOT EXISTS texts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    lang TEXT NOT NULL,
    text TEXT NOT NULL,
    label TEXT NOT NULL,
    score REAL NOT NULL
);
"""


@dataclass(frozen=True)
class WindowRecord:
    """Aggregate statistics of one model version and language over one flush interval."""

    ts_start: float
    ts_end: float
    model: str
    version: str
    lang: str
    rows: int
    length_hist: list[int]
    confidence_hist: list[int]
    label_counts: dict[str, int]
    tokens: int = 0  # word tokens seen (vocabulary-based models; 0 otherwise)
    oov_tokens: int = 0  # of which not in the model's vocabulary
    task_counts: dict[str, Any] = field(
        default_factory=dict
    )  # the task's own additive counters (reference.task_counts)


@dataclass(frozen=True)
class TextRecord:
    """One stored request text (only with ``monitoring.store_texts``), after redaction."""

    ts: float
    model: str
    version: str
    lang: str
    text: str
    label: str
    score: float


# Columns added after the first release: a store written by an older nlpops gets them (zeros) on open.
_ADDED_COLUMNS = {
    "tokens": "INTEGER NOT NULL DEFAULT 0",
    "oov_tokens": "INTEGER NOT NULL DEFAULT 0",
    "task_counts": "TEXT NOT NULL DEFAULT '{}'",
}


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    present = {row[1] for row in conn.execute("PRAGMA table_info(window_stats)")}
    for column, kind in _ADDED_COLUMNS.items():
        if column not in present:
            with suppress(sqlite3.OperationalError):  # another process added it a moment ago
                conn.execute(f"ALTER TABLE window_stats ADD COLUMN {column} {kind}")


class StatsStore:
    """Live statistics in a SQLite file (WAL mode; safe for several processes writing at once).

    Args:
        path: the database file; its folder is created on the first write.
        timeout_s: how long a writer waits for another process's lock.
    """

    def __init__(self, path: Path | str, *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=self.timeout_s)) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
                _add_missing_columns(conn)
                with conn:
                    yield conn
        except sqlite3.Error as exc:
            raise ConfigError(
                f'The live-statistics store "{self.path}" cannot be used: {exc}. '
                "Check the path and its permissions (monitoring.stats_path)."
            ) from exc
        except OSError as exc:
            raise ConfigError(
                f'The live-statistics store "{self.path}" cannot be created: {exc.strerror}. '
                "Set monitoring.stats_path to a writable file."
            ) from exc

    def save_windows(self, records: Sequence[WindowRecord]) -> None:
        """Append aggregate records.

        Args:
            records: the records of one flush.

        Raises:
            ConfigError: the store cannot be written.
        """
        if not records:
            return
        rows = [
            (
                r.ts_start,
                r.ts_end,
                r.model,
                r.version,
                r.lang,
                r.rows,
                json.dumps(r.length_hist),
                json.dumps(r.confidence_hist),
                json.dumps(r.label_counts),
                r.tokens,
                r.oov_tokens,
                json.dumps(r.task_counts),
            )
            for r in records
        ]
        with self._connect() as conn:
            conn.executemany(
                "INSERT INTO window_stats (ts_start, ts_end, model, version, lang, rows, length_hist, "
                "confidence_hist, label_counts, tokens, oov_tokens, task_counts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def save_texts(self, records: Sequence[TextRecord]) -> None:
        """Append text records (callers redact first when redaction is on).

        Args:
            records: the texts of one flush.

        Raises:
            ConfigError: the store cannot be written.
        """
        if not records:
            return
        with self._connect() as conn:
            conn.executemany(
                "INSERT INTO texts (ts, model, version, lang, text, label, score) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(r.ts, r.model, r.version, r.lang, r.text, r.label, r.score) for r in records],
            )

    def load_windows(self, model: str, version: str | None = None, *, since_ts: float = 0.0) -> list[WindowRecord]:
        """Aggregate records of ``model`` (one version, or all) that ended at or after ``since_ts``.

        Args:
            model: the model name.
            version: the version as the service reports it; None: every version.
            since_ts: a Unix time; older records are left out.

        Returns:
            The records, oldest first.

        Raises:
            ConfigError: the store cannot be read.
        """
        query = (
            "SELECT ts_start, ts_end, model, version, lang, rows, length_hist, confidence_hist, label_counts, "
            "tokens, oov_tokens, task_counts FROM window_stats WHERE model = ? AND ts_end >= ?"
        )
        params: list[object] = [model, since_ts]
        if version is not None:
            query += " AND version = ?"
            params.append(version)
        with self._connect() as conn:
            found = conn.execute(query + " ORDER BY id", params).fetchall()
        return [
            WindowRecord(a, b, m, v, lang, n, json.loads(lh), json.loads(ch), json.loads(lc), tok, oov, json.loads(tc))
            for a, b, m, v, lang, n, lh, ch, lc, tok, oov, tc in found
        ]

    def load_texts(self, model: str | None = None, *, limit: int = 1000) -> list[TextRecord]:
        """Stored texts, newest first.

        Args:
            model: only this model's texts; None: all.
            limit: at most this many.

        Returns:
            The text records.

        Raises:
            ConfigError: the store cannot be read.
        """
        query = "SELECT ts, model, version, lang, text, label, score FROM texts"
        params: list[object] = []
        if model is not None:
            query += " WHERE model = ?"
            params.append(model)
        with self._connect() as conn:
            found = conn.execute(query + " ORDER BY id DESC LIMIT ?", [*params, limit]).fetchall()
        return [TextRecord(*row) for row in found]

    def versions(self, model: str) -> list[str]:
        """The versions of ``model`` with live statistics, most recently seen last.

        Args:
            model: the model name.

        Returns:
            Version strings.
        """
        with self._connect() as conn:
            found = conn.execute(
                "SELECT version FROM window_stats WHERE model = ? GROUP BY version ORDER BY MAX(id)", [model]
            ).fetchall()
        return [row[0] for row in found]


__all__ = ["StatsStore", "TextRecord", "WindowRecord"]
