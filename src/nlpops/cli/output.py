"""Console output shared by the commands: errors on stderr in one line, results on stdout."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(message: str) -> None:
    """One line on stderr: ``error: <message>``."""
    from rich.text import Text

    line = " ".join(message.split())
    stderr_console().print(Text.assemble(("error: ", "bold red"), line), soft_wrap=True)


def print_json(data: Any) -> None:
    """Plain JSON on stdout (no colour codes, safe to pipe)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


__all__ = ["print_error", "print_json", "stderr_console", "stdout_console"]
