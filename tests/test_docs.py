"""Docs that are generated must be current, and every command must explain itself."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from nlpops.cli import build_app
from nlpops.cli.reference import render_cli_reference

ROOT = Path(__file__).resolve().parents[1]


def test_docs_cli_reference_is_current() -> None:
    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == render_cli_reference(), "docs/cli.md is stale: run python -m nlpops.cli.reference docs/cli.md"


def test_docs_every_command_and_option_has_help() -> None:
    root = typer.main.get_command(build_app())
    missing = []

    def walk(group: object, prefix: str) -> None:
        for name, command in group.commands.items():  # type: ignore[attr-defined]
            path = f"{prefix} {name}"
            if not command.help:
                missing.append(path)
            if hasattr(command, "commands"):
                walk(command, path)
                continue
            missing.extend(f"{path} {p.name}" for p in command.params if p.name != "help" and not p.help)

    walk(root, "nlpops")
    assert missing == []


def test_docs_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


def test_docs_cli_reference_generator_prints_usage_for_an_option_and_writes_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from nlpops.cli.reference import main

    monkeypatch.chdir(tmp_path)
    main(["--help"])
    assert "usage: python -m nlpops.cli.reference" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
