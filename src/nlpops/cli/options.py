"""What the command modules share: the ``--config`` and ``--json`` options, config loading and progress display.

Command modules import these from here and never from each other (an import-linter contract keeps it so).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from nlpops.cli.output import stderr_console

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="nlpops.yaml to read (default: ./nlpops.yaml or NLPOPS_CONFIG).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def load_cli_config(config: Path | None, overrides: dict[str, Any] | None = None) -> Any:
    """Load the config at the CLI edge (flags are the highest-precedence overrides)."""
    from nlpops.checklist import load_config

    return load_config(config, overrides or {})


class ProgressDisplay:
    """Shows a :class:`nlpops.progress.Progress` on stderr: one row per phase, with a bar, done/total and an ETA
    when the phase has a total, a spinner otherwise. Also a function of one message (a step), for library
    functions that take one.

    Args:
        title: what the command does (``"Training"``), shown before each phase.
        bar: the rich progress display to draw into (None: draw nothing).
    """

    def __init__(self, title: str, bar: Any | None) -> None:
        self.title = title
        self.bar = bar
        self._task: Any = None

    def __call__(self, message: str) -> None:
        self.step(message)

    def step(self, message: str, total: int | None = None) -> None:
        """Start a phase (the previous one is shown as finished)."""
        if self.bar is None:
            return
        self._finish()
        self._task = self.bar.add_task(f"{self.title}: {message}", total=total, note="")

    def advance(self, amount: int = 1, note: str | None = None) -> None:
        """Count units of the current phase."""
        if self.bar is None or self._task is None:
            return
        self.bar.update(self._task, advance=amount, note=note or "")

    def _finish(self) -> None:
        if self._task is None:
            return
        bar, self._task, task_id = self.bar, None, self._task
        task = next((t for t in bar.tasks if t.id == task_id), None) if bar is not None else None
        if bar is not None and task is not None:
            done = max(task.completed if task.total is not None else 1, 1)
            bar.update(task_id, total=done, completed=done, note="")

    def close(self) -> None:
        """Mark the last phase finished."""
        if self.bar is not None:
            self._finish()


@contextmanager
def progress_bar(title: str, enabled: bool = True) -> Iterator[ProgressDisplay]:
    """A :class:`ProgressDisplay` on stderr for the ``with`` block; silent when ``enabled`` is false (``--json``)
    or stderr is not a terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = stderr_console()
    if not enabled or not console.is_terminal:
        yield ProgressDisplay(title, None)
        return
    columns = (
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[note]}", style="dim"),
    )
    with Progress(*columns, console=console) as bar:
        display = ProgressDisplay(title, bar)
        try:
            yield display
        finally:
            display.close()


spinner = progress_bar  # the name the command modules used before progress had counts


__all__ = ["ConfigOption", "JsonOption", "ProgressDisplay", "load_cli_config", "progress_bar", "spinner"]
