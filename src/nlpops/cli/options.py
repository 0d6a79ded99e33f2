"""What the command modules share: the ``--config`` and ``--json`` options, config loading and a spinner.

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


@contextmanager
def spinner(message: str, enabled: bool = True) -> Iterator[Any]:
    """A rich status spinner on stderr with elapsed time; yields a function to update the step text."""
    from rich.status import Status

    if not enabled or not stderr_console().is_terminal:
        yield lambda _msg: None
        return
    with Status(message, console=stderr_console()) as status:
        yield lambda msg: status.update(f"{message}: {msg}")


__all__ = ["ConfigOption", "JsonOption", "load_cli_config", "spinner"]
