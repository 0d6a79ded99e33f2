"""What the command modules share: the ``--config`` and ``--json`` options, config loading and progress display.

Command modules import these from here and never from each other (an import-linter contract keeps it so).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from nlpops.cli.output import stderr_console

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="nlpops.yaml to read (default: ./nlpops.yaml or NLPOPS_CONFIG).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")  # Sphinx roles: :func:`x`, :class:`~a.b`
_LITERAL = re.compile(r"``([^`]+)``")  # reStructuredText literals


def plain_help(text: str | None) -> str | None:
    """Help text as a terminal shows it: paragraphs reflowed (single line breaks are a docstring's wrapping),
    reStructuredText literals and Sphinx roles as plain `code`."""
    if not text:
        return text
    text = _LITERAL.sub(r"`\1`", _ROLE.sub(r"`\1`", text))
    paragraphs = [" ".join(part.split()) for part in re.split(r"\n\s*\n", text.strip())]
    return "\n\n".join(p for p in paragraphs if p)


def _plain_params(command: TyperCommand | TyperGroup, params: list[Any]) -> list[Any]:
    command.help = plain_help(command.help)
    for param in params:
        if isinstance(param, TyperOption):
            param.help = plain_help(param.help)
            if param.is_flag and not param.count and param.metavar is None:
                param.metavar = ""  # typer would show <bool>
        elif isinstance(param, TyperArgument):
            param.help = plain_help(param.help)
            if param.metavar is None and param.name:
                param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")
    return params


class PlainCommand(TyperCommand):
    """A command whose help reads plainly: flags without a ``<bool>`` type, arguments as ``NAME`` (usage:
    ``nlpops registry promote [OPTIONS] NAME VERSION``), help text without docstring markup."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = plain_help(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_params(self, super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """``[OPTIONS] NAME [OPTIONAL]...``: arguments by name, optional ones in brackets."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar or (param.name or "").upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces


class PlainGroup(TyperGroup):
    """A command group with the plain help of :class:`PlainCommand`."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_params(self, super().get_params(ctx))


class PlainTyper(typer.Typer):
    """A typer app whose commands and groups read plainly (:class:`PlainCommand`); use it for every (sub-)app."""

    def __init__(self, *args: Any, cls: type[TyperGroup] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, cls=cls or PlainGroup, **kwargs)

    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Callable[[Any], Any]:
        return super().command(*args, cls=cls or PlainCommand, **kwargs)


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


__all__ = [
    "ConfigOption",
    "JsonOption",
    "PlainCommand",
    "PlainGroup",
    "PlainTyper",
    "ProgressDisplay",
    "load_cli_config",
    "plain_help",
    "progress_bar",
    "spinner",
]
