"""Progress reporting for batch runs: a protocol, and a rich progress bar (rows/s, ETA) on stderr."""

from __future__ import annotations

import time
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class ProgressSink(Protocol):
    """Receives progress of a batch run. ``unit`` is ``bytes`` (CSV, JSONL) or ``rows`` (Parquet)."""

    def start(self, total: int, unit: str, done: int, rows_done: int) -> None: ...

    def advance(self, amount: int, rows: int) -> None: ...

    def finish(self) -> None: ...


class _RowsColumn(ProgressColumn):
    """Rows done and rows per second of this run."""

    def render(self, task: Task) -> Text:
        rows = int(task.fields.get("rows", 0))
        started = float(task.fields.get("started", time.monotonic()))
        new_rows = rows - int(task.fields.get("rows_at_start", 0))
        elapsed_s = max(time.monotonic() - started, 1e-9)
        return Text(f"{rows:,} rows  {new_rows / elapsed_s:,.0f} rows/s", style="progress.data.speed")


class RichProgress:
    """A rich progress bar on stderr; silent when stderr is not a terminal or when ``quiet``.

    Args:
        quiet: never draw anything.
        console: the console to draw on (default: stderr).
    """

    def __init__(self, quiet: bool = False, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = not quiet and self.console.is_terminal
        self._progress: Progress | None = None
        self._task: Any = None
        self._rows = 0

    def start(self, total: int, unit: str, done: int, rows_done: int) -> None:
        """Show the bar, already ``done`` (units) and ``rows_done`` rows in when resuming."""
        if not self.enabled:
            return
        self._rows = rows_done
        self._progress = Progress(
            TextColumn("[bold]batch[/]"),
            BarColumn(),
            TaskProgressColumn(),
            _RowsColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(
            "batch",
            total=max(total, 1),
            completed=done,
            rows=rows_done,
            rows_at_start=rows_done,
            started=time.monotonic(),
            unit=unit,
        )

    def advance(self, amount: int, rows: int) -> None:
        """Record one committed chunk: ``amount`` units, ``rows`` rows."""
        if self._progress is None:
            return
        self._rows += rows
        self._progress.update(self._task, advance=amount, rows=self._rows)

    def finish(self) -> None:
        """Stop drawing."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


__all__ = ["ProgressSink", "RichProgress"]
