"""``nlpops init``: write a commented nlpops.yaml, or ask the checklist questions one by one."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from nlpops.errors import ConfigError

Ask = Callable[[str, str], str]


def _plain_ask(prompt: str, default: str) -> str:
    """Ask on stdout and read one line from stdin (works when stdin is a pipe or a file)."""
    sys.stdout.write(f"{prompt} [{default}]: ")
    sys.stdout.flush()
    line = sys.stdin.readline()
    if not line:  # end of input: keep the default for this and every later question
        sys.stdout.write("\n")
        return ""
    return line.rstrip("\n")


def _questionary_ask(prompt: str, default: str) -> str:
    import questionary

    answer = questionary.text(prompt, default=default).ask()
    if answer is None:  # Ctrl-C inside questionary
        raise KeyboardInterrupt
    return str(answer)


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def ask_checklist(ask: Ask, echo: Callable[[str], None]) -> dict[str, Any]:
    """Ask every checklist question; re-ask an invalid answer with the reason.

    Args:
        ask: ``ask(prompt, default_text) -> answer`` (an empty answer keeps the default).
        echo: prints the one-line reason and validation messages.

    Returns:
        The answers by dotted config key.
    """
    from nlpops.init_template import QUESTIONS, default_value, field_info, field_note, parse_answer

    answers: dict[str, Any] = {}
    for question in QUESTIONS:
        echo(f"  why: {question.why} ({field_note(field_info(question.path))})")
        default_text = _shown(default_value(question.path))
        while True:
            text = ask(question.text, default_text)
            try:
                answers[question.path] = parse_answer(question.path, text if text != default_text else "", answers)
                break
            except ConfigError as exc:
                echo(f"  {exc}")
    return answers


def init_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="File to write.")] = Path("nlpops.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    interactive: Annotated[
        bool, typer.Option("--interactive", "-i", help="Ask the checklist questions one by one.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Write a commented nlpops.yaml that explains every key (the deployment checklist and all settings)."""
    from nlpops.checklist import load_config
    from nlpops.init_template import render_template

    if config.exists() and not force:
        raise ConfigError(f'"{config}" already exists. Pass --force to overwrite it, or --config to pick another file.')
    values: dict[str, Any] = {}
    if interactive:
        ask: Ask = _questionary_ask if sys.stdin.isatty() and sys.stdout.isatty() else _plain_ask
        values = ask_checklist(ask, typer.echo)
    text = render_template(values)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text, encoding="utf-8")
    load_config(config)  # the file we wrote must load; a failure here is a bug, reported by main()
    if as_json:
        from nlpops.cli.output import print_json

        print_json({"config": str(config), "answers": values})
        return
    typer.echo(f"Wrote {config}. Edit it, then run: nlpops train / nlpops profile / nlpops plan")


def register(app: typer.Typer) -> None:
    """Add ``init`` to the app."""
    app.command("init")(init_command)


__all__ = ["ask_checklist", "init_command", "register"]
