"""CSV records with a bound on their size: an oversized row is skipped as one row, the reading goes on.

Python's csv reader raises ``field larger than field limit`` for a field over ``csv.field_size_limit()``
(131072 characters unless changed), and then restarts at the next *line*, which may sit inside the quoted
field it gave up on. And a row of one long line is read whole into memory before any check. So the lines
reach the reader through :class:`RecordLines`, which reads at most :data:`MAX_ROW_CHARS` characters of a row
and, after either failure, skips to the row's real end by following the CSV quoting itself (the states of
the standard dialect: ``"`` quotes, ``""`` escapes a quote, a quote inside an unquoted field is a character).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import TextIO

MAX_ROW_CHARS = 1 << 20
"""The most characters one CSV row (all its fields) may have; a longer row is rejected."""

_START, _IN_FIELD, _IN_QUOTED, _QUOTE_IN_QUOTED = range(4)


class OversizedRow(Exception):
    """Raised through the csv reader when a row passes :data:`MAX_ROW_CHARS`."""


class RecordLines:
    """The lines of a CSV text stream for ``csv.reader``, remembering those of the current row.

    Args:
        stream: the text stream (opened with ``newline=""``).
        delimiter: the CSV delimiter (to find a row's end after an oversized one).
        max_row_chars: the bound on one row.
    """

    def __init__(self, stream: TextIO, delimiter: str, max_row_chars: int = MAX_ROW_CHARS) -> None:
        self._stream = stream
        self._max = max_row_chars
        self._row: list[str] = []
        self._size = 0
        self._field_end = re.compile(f"[{re.escape(delimiter)}\r\n]")
        self._delimiter = delimiter

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self._stream.readline(self._max + 1)
        if not line:
            raise StopIteration
        self._row.append(line)
        self._size += len(line)
        if self._size > self._max:
            raise OversizedRow
        return line

    def start_row(self) -> None:
        """Call before asking the reader for the next row."""
        self._row.clear()
        self._size = 0

    def skip_row(self) -> None:
        """Consume the rest of the current row (whose start the reader gave up on), reading in bounded chunks."""
        state = _START
        for chunk in self._row:
            state = self._scan(chunk, state)
        last = self._row[-1] if self._row else "\n"
        self._row.clear()
        while state == _IN_QUOTED or not last.endswith(("\n", "\r")):
            last = self._stream.readline(self._max)
            if not last:
                return
            state = self._scan(last, state)

    def _scan(self, chunk: str, state: int) -> int:
        """The quoting state after ``chunk`` (line ends count as delimiters: the row ends there unless quoted)."""
        i, n = 0, len(chunk)
        while i < n:
            if state == _IN_QUOTED:
                j = chunk.find('"', i)
                if j < 0:
                    return _IN_QUOTED
                state, i = _QUOTE_IN_QUOTED, j + 1
            elif state == _IN_FIELD:
                match = self._field_end.search(chunk, i)
                if match is None:
                    return _IN_FIELD
                state, i = _START, match.end()
            else:
                char = chunk[i]
                if char == '"':
                    state = _IN_QUOTED
                elif char == self._delimiter or char in "\r\n":
                    state = _START
                else:
                    state = _IN_FIELD
                i += 1
        return state


def oversized_reason(exc: Exception, max_row_chars: int = MAX_ROW_CHARS) -> str | None:
    """The rejects-file reason when ``exc`` means an oversized row or field, else None (another CSV error)."""
    if isinstance(exc, OversizedRow):
        return f"row longer than {max_row_chars} characters"
    if isinstance(exc, csv.Error) and "field larger than field limit" in str(exc):
        return f"a field longer than {csv.field_size_limit()} characters (the CSV field size limit)"
    return None


__all__ = ["MAX_ROW_CHARS", "OversizedRow", "RecordLines", "oversized_reason"]
