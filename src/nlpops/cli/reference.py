"""docs/cli.md, generated from the CLI itself so that it cannot go stale (a test compares them).

Regenerate with ``python -m nlpops.cli.reference docs/cli.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HEADER = """# CLI reference

Generated from `nlpops --help` by `python -m nlpops.cli.reference docs/cli.md`; a test fails when it is stale.

Exit codes: `0` ok, `1` a problem with the input or the environment (one line on stderr saying what to do),
`2` a usage error (unknown command or option, missing argument). `nlpops monitor` exits `3` when it finds drift.

`nlpops --version` prints the version. Shell completion: `nlpops --install-completion` installs it for the current
shell (bash, zsh, fish or PowerShell; open a new shell afterwards), `nlpops --show-completion` prints the script.

Commands that take more than a moment (`train`, `retrain`, `profile`, `plan --profile`, `loadtest`, `export`,
`compare-languages`, `batch`) show their progress on stderr: one row per phase, with a bar, the count done of the
total and an ETA where the total is known. Only on a terminal, and never with `--json`.
"""


def _commands(group: Any, prefix: str) -> list[tuple[str, Any]]:
    found = []
    for name in sorted(group.commands):
        command = group.commands[name]
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            found.extend(_commands(command, path))
        else:
            found.append((path, command))
    return found


def _param_row(param: Any) -> str:
    if param.param_type_name == "argument":
        name = f"`{(param.name or '').upper()}`"
        kind = "argument" + (", required" if param.required else "")
    else:
        name = ", ".join(f"`{opt}`" for opt in [*param.opts, *param.secondary_opts])
        kind = "flag" if getattr(param, "is_flag", False) else "option"
    default = param.default
    shown = "" if default in (None, False, (), []) or callable(default) else f" (default: `{default}`)"
    help_text = " ".join((getattr(param, "help", None) or "").split())
    return f"| {name} | {kind} | {help_text}{shown} |"


def render_cli_reference() -> str:
    """The Markdown reference of every ``nlpops`` command, its arguments and options."""
    import typer

    from nlpops.cli import build_app

    root = typer.main.get_command(build_app())
    parts = [HEADER]
    for path, command in _commands(root, "nlpops"):
        doc = " ".join((command.help or "").split())
        parts.append(f"## `{path}`\n\n{doc}\n")
        rows = [_param_row(p) for p in command.params if p.name != "help"]
        if rows:
            parts.append("| name | kind | description |\n|---|---|---|\n" + "\n".join(rows) + "\n")
    return "\n".join(parts)


def main(argv: list[str]) -> None:
    """Write the reference to the path given (stdout without one)."""
    if argv and argv[0].startswith("-"):
        sys.stdout.write("usage: python -m nlpops.cli.reference [OUT.md]   (stdout without OUT.md)\n")
        return
    text = render_cli_reference()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])


__all__ = ["render_cli_reference"]
