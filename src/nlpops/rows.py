"""Streaming the rows of a data file (CSV, JSON lines, Parquet) as records, each with its line number.

A JSON line that is not a JSON object is a row too, with the reason it cannot be read: the data layer
counts it as a bad row instead of stopping at it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nlpops.errors import DataError, MissingExtraError

NumberedRow = tuple[int, dict[str, Any] | None, str | None]
"""``(line, record, reason)``: the line a row ends on (Parquet: its row number) and the record, or None and
why the line is unreadable."""


def detect_format(path: Path) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the file suffix."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("csv", "tsv"):
        return "csv"
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if suffix in ("parquet", "pq"):
        return "parquet"
    raise DataError(f'"{path}": unknown file type ".{suffix}". Use a .csv, .jsonl or .parquet file.')


def iter_records(path: Path | str) -> Iterator[dict[str, Any]]:
    """Stream the rows of a CSV, JSONL or Parquet file as dicts (memory bounded).

    Raises:
        DataError: missing file, not UTF-8, malformed JSON line, unreadable Parquet.
    """
    for line, record, reason in iter_numbered(path):
        if reason is not None or record is None:
            raise DataError(f'"{path}" line {line}: {reason}. One JSON object per line.')
        yield record


def iter_numbered(path: Path | str) -> Iterator[NumberedRow]:
    """Stream ``(line, record, reason)`` for each row: the line it ends on (Parquet: its row number), the
    record, or None and why a JSON line is unreadable (not JSON, not an object).

    Raises:
        DataError: missing file, not UTF-8, malformed CSV, unreadable Parquet.
    """
    path = Path(path)
    if not path.is_file():
        hint = " It is a directory." if path.is_dir() else ""
        raise DataError(f'Data file "{path}" does not exist.{hint} Check the path.')
    fmt = detect_format(path)
    try:
        if fmt == "csv":
            yield from _iter_csv(path)
        elif fmt == "jsonl":
            yield from _iter_jsonl(path)
        else:
            yield from ((n, record, None) for n, record in enumerate(_iter_parquet(path), start=1))
    except UnicodeDecodeError as exc:
        raise DataError(f'"{path}" is not valid UTF-8 ({_first_bad_line(path)}). Re-save the file as UTF-8.') from exc


def _first_bad_line(path: Path) -> str:
    """Where the first non-UTF-8 byte of ``path`` is, for the error message."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"line {number}, byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
    return "invalid byte sequence"


def _iter_csv(path: Path) -> Iterator[NumberedRow]:
    with path.open(newline="", encoding="utf-8") as fh:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        reader = csv.DictReader(fh, delimiter=delimiter)
        rows = 0
        try:
            for rows, record in enumerate(reader, start=1):  # noqa: B007 (rows names the failing row below)
                yield reader.line_num, record, None
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise DataError(
                    f'"{path}" row {rows + 1}: a field longer than {csv.field_size_limit()} characters (the CSV '
                    "field size limit). Shorten that text or remove the row."
                ) from exc
            raise DataError(f'"{path}" line {reader.line_num}: malformed CSV ({exc}).') from exc


def _iter_jsonl(path: Path) -> Iterator[NumberedRow]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, f"not valid JSON ({exc.msg})"
                continue
            if not isinstance(record, dict):
                yield number, None, f"expected a JSON object, got {type(record).__name__}"
                continue
            yield number, record, None


def _iter_parquet(path: Path) -> Iterator[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingExtraError.for_extra("Reading Parquet files", "parquet", "pyarrow") from exc
    try:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=8192):
            yield from batch.to_pylist()
    except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        raise DataError(f'"{path}" is not a readable Parquet file: {exc}') from exc


__all__ = ["NumberedRow", "detect_format", "iter_numbered", "iter_records"]
