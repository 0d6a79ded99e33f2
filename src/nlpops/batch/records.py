"""Streaming the rows of a batch input (CSV, JSONL, Parquet), each checked and numbered.

Every data row becomes one :data:`InputRow` ``(row, id, text, reason)``: ``row`` is the 1-based data row
number, ``id`` the value of the id column (or None), ``text`` the text to classify, and ``reason`` why the
row cannot be classified (then ``text`` is None). Undecodable bytes, a missing or empty value, a value that
is not text, a malformed JSON line, or a CSV row or field too long (see :mod:`nlpops.batch.csv_rows`) reject
one row; the run goes on. Memory stays bounded: rows are read
one at a time (Parquet: one record batch at a time, only the needed columns).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nlpops.batch.csv_rows import MAX_ROW_CHARS, OversizedRow, RecordLines, oversized_reason
from nlpops.data import detect_format, is_classifiable
from nlpops.errors import DataError, MissingExtraError

InputRow = tuple[int, str | None, str | None, str | None]

_PARQUET_BATCH_ROWS = 4096


def _is_decodable(value: str) -> bool:
    """False when ``value`` holds bytes that were not UTF-8 (decoded with ``surrogateescape``)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(value: Any, column: str) -> tuple[str | None, str | None]:
    """``(text, None)`` for a usable text value, else ``(None, reason)`` (the reason a rejects file shows)."""
    if value is None:
        return None, f'missing value in column "{column}"'
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None, f'undecodable bytes (not UTF-8) in column "{column}"'
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, f'column "{column}" holds a {type(value).__name__}, not text'
    text = str(value)
    if not _is_decodable(text):
        return None, f'undecodable bytes (not UTF-8) in column "{column}"'
    if not is_classifiable(text):  # whitespace-only texts are answered (the one rule, in nlpops.data)
        return None, f'empty text in column "{column}"'
    return text, None


def check_id(value: Any, column: str) -> tuple[str | None, str | None]:
    """``(id, None)`` for a usable id value, else ``(None, reason)``."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return None, f'undecodable bytes (not UTF-8) in id column "{column}"'
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, f'missing value in id column "{column}"'
    ident = str(value)
    if not _is_decodable(ident):
        return None, f'undecodable bytes (not UTF-8) in id column "{column}"'
    return ident, None


class RecordSource:
    """The rows of one input file, read lazily; ``position`` / ``total`` drive the progress bar.

    Args:
        path: a ``.csv``/``.tsv``, ``.jsonl``/``.ndjson``/``.json`` or ``.parquet`` file.
        text_column: the column holding the text.
        id_column: the column holding each row's id, or None to use row numbers.
        max_row_chars: CSV: a longer row is rejected (as a row).

    Raises:
        DataError: the file is missing, of unknown type, or lacks a named column.
    """

    def __init__(
        self, path: Path, text_column: str, id_column: str | None, *, max_row_chars: int = MAX_ROW_CHARS
    ) -> None:
        if not path.is_file():
            hint = " It is a directory." if path.is_dir() else ""
            raise DataError(f'Input file "{path}" does not exist.{hint} Check the --input path.')
        self.path = path
        self.format = detect_format(path)
        self.text_column = text_column
        self.id_column = id_column
        self.max_row_chars = max_row_chars
        self.unit = "rows" if self.format == "parquet" else "bytes"
        self.total = self._parquet_rows() if self.format == "parquet" else path.stat().st_size
        self.position = 0

    def __iter__(self) -> Iterator[InputRow]:
        if self.format == "csv":
            return self._iter_csv()
        if self.format == "jsonl":
            return self._iter_jsonl()
        return self._iter_parquet()

    def _missing_column(self, column: str, columns: list[str]) -> DataError:
        flag = "--text-column" if column == self.text_column else "--id-column"
        return DataError(
            f'"{self.path}" has no column "{column}" (columns: {", ".join(columns) or "none"}). Pass {flag} NAME.'
        )

    def _check_header(self, columns: list[str]) -> None:
        for column in (self.text_column, self.id_column):
            if column is not None and column not in columns:
                raise self._missing_column(column, columns)

    def _row(self, number: int, text_value: Any, id_value: Any) -> InputRow:
        ident: str | None = None
        if self.id_column is not None:
            ident, reason = check_id(id_value, self.id_column)
            if reason is not None:
                return number, ident, None, reason
        text, reason = check_text(text_value, self.text_column)
        return number, ident, text, reason

    def _iter_csv(self) -> Iterator[InputRow]:
        with self.path.open("rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
            delimiter = "\t" if self.path.suffix.lower() == ".tsv" else ","
            lines = RecordLines(text, delimiter, self.max_row_chars)
            reader = csv.reader(lines, delimiter=delimiter)
            try:
                header = next(reader, None)
            except (csv.Error, OversizedRow) as exc:
                raise self._malformed(reader.line_num, exc) from exc
            if header is None:
                return
            if header and header[0].startswith("\ufeff"):
                header[0] = header[0][1:]
            self._check_header(header)
            text_index = header.index(self.text_column)
            id_index = header.index(self.id_column) if self.id_column is not None else -1
            number = 0
            while True:
                lines.start_row()
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except (csv.Error, OversizedRow) as exc:
                    reason = oversized_reason(exc, self.max_row_chars)
                    if reason is None:
                        raise self._malformed(reader.line_num, exc) from exc
                    lines.skip_row()  # the row is rejected as a row; the next one is read as usual
                    self.position = raw.tell()
                    number += 1
                    yield number, None, None, reason
                    continue
                self.position = raw.tell()
                if not fields:  # a blank line is no row
                    continue
                number += 1
                text_value = fields[text_index] if text_index < len(fields) else None
                id_value = fields[id_index] if 0 <= id_index < len(fields) else None
                yield self._row(number, text_value, id_value)
            self.position = self.total

    def _malformed(self, line: int, exc: Exception) -> DataError:
        reason = oversized_reason(exc, self.max_row_chars) or f"malformed CSV ({exc})"
        return DataError(f'"{self.path}" line {line}: {reason}. Fix the quoting on that line.')

    def _iter_jsonl(self) -> Iterator[InputRow]:
        import orjson

        checked = False
        number = 0
        with self.path.open("rb") as fh:
            for line in fh:
                self.position = fh.tell()
                if not line.strip():
                    continue
                number += 1
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError:
                        yield number, None, None, "undecodable bytes (not UTF-8)"
                        continue
                    yield number, None, None, f"not valid JSON ({exc})"
                    continue
                if not isinstance(record, dict):
                    yield number, None, None, f"expected a JSON object, got {type(record).__name__}"
                    continue
                if not checked:  # the first object names the columns, as a CSV header would
                    self._check_header(list(record))
                    checked = True
                id_value = record.get(self.id_column) if self.id_column is not None else None
                yield self._row(number, record.get(self.text_column), id_value)
        self.position = self.total

    def _parquet_file(self) -> Any:
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise MissingExtraError.for_extra("Reading Parquet files", "parquet", "pyarrow") from exc
        try:
            return pq.ParquetFile(self.path)
        except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
            raise DataError(f'"{self.path}" is not a readable Parquet file: {exc}') from exc

    def _parquet_rows(self) -> int:
        return int(self._parquet_file().metadata.num_rows)

    def _iter_parquet(self) -> Iterator[InputRow]:
        parquet = self._parquet_file()
        self._check_header(list(parquet.schema_arrow.names))
        columns = [self.text_column] + ([self.id_column] if self.id_column is not None else [])
        number = 0
        try:
            for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=columns):
                texts = batch.column(0).to_pylist()
                ids = batch.column(1).to_pylist() if self.id_column is not None else [None] * len(texts)
                for text_value, id_value in zip(texts, ids, strict=True):
                    number += 1
                    self.position = number
                    yield self._row(number, text_value, id_value)
        except (OSError, ValueError) as exc:
            raise DataError(f'"{self.path}" is not a readable Parquet file: {exc}') from exc


__all__ = ["InputRow", "RecordSource", "check_id", "check_text"]
