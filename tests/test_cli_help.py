"""The CLI reads plainly: flags without types, usage lines with NAME arguments, no docstring markup, --version,
completion, --json wherever a command prints a result, and "did you mean" for typos."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nlpops import __version__
from nlpops.cli import build_app
from nlpops.cli.reference import _commands
from nlpops.registry import SqliteRegistry
from nlpops.testing import tiny_tfidf_bundle

ROOT = typer.main.get_command(build_app())
COMMANDS = [path for path, _ in _commands(ROOT, "nlpops")]
# The commands that print no result: demo and serve run until stopped.
WITHOUT_RESULT = {"nlpops demo", "nlpops serve"}


def _invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args), env={"COLUMNS": "120", **(env or {})})
    return result.exit_code, result.output


@pytest.mark.parametrize("path", ["nlpops", "nlpops registry", *COMMANDS])
def test_cli_help_is_plain(path: str) -> None:
    code, text = _invoke(*path.split()[1:], "--help")
    assert code == 0, text
    assert "<bool>" not in text  # flags are flags
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    assert "``" not in text and not re.search(r":(func|class|meth|data|mod):`", text)


def test_cli_usage_names_the_arguments() -> None:
    code, text = _invoke("registry", "promote", "--help")
    assert code == 0 and "Usage: nlpops registry promote [OPTIONS] NAME VERSION" in text
    code, text = _invoke("predict", "--help")
    assert "Usage: nlpops predict [OPTIONS] [REF] [TEXTS...]" in text


def test_cli_version_and_completion() -> None:
    code, text = _invoke("--version")
    assert code == 0 and text.strip() == f"nlpops {__version__}"
    code, text = _invoke("--help")
    assert "--install-completion" in text and "--show-completion" in text


def test_cli_json_wherever_a_result_is_printed() -> None:
    without = {
        path
        for path, command in _commands(ROOT, "nlpops")
        if "--json" not in [opt for param in command.params for opt in getattr(param, "opts", [])]
    }
    assert without == WITHOUT_RESULT


def test_cli_registry_promote_and_rollback_json(tmp_path: Path) -> None:
    env = {"NLPOPS_HOME": str(tmp_path / "registry")}
    registry = SqliteRegistry(tmp_path / "registry")
    for i in (1, 2):
        registry.register(tiny_tfidf_bundle(tmp_path / f"b{i}", name="intents").path, "intents")
    registry.promote("intents", 1, "production")
    code, text = _invoke("registry", "promote", "intents", "2", "--json", env=env)
    assert code == 0, text
    event = json.loads(text)
    assert event["action"] == "promoted" and event["version"] == 2 and event["previous_version"] == 1
    code, text = _invoke("registry", "rollback", "intents", "--json", env=env)
    assert code == 0 and json.loads(text)["version"] == 1


def test_cli_unknown_command_suggests_the_closest() -> None:
    code, text = _invoke("trian")
    assert code == 2 and "Did you mean 'train'" in text


def test_cli_unknown_config_key_suggests_the_closest(tmp_path: Path) -> None:
    config = tmp_path / "nlpops.yaml"
    config.write_text("model:\n  famly: tfidf\n  tfidf:\n    max_featres: 10\nservng:\n  port: 1\n", "utf-8")
    from nlpops.checklist import load_config
    from nlpops.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config(config)
    message = str(info.value)
    assert 'model.famly: unknown key (from "' in message and 'did you mean "model.family"?' in message
    assert 'did you mean "model.tfidf.max_features"?' in message and 'did you mean "serving"?' in message
    config.write_text("model:\n  zzzzzz: 1\n", "utf-8")
    with pytest.raises(ConfigError, match="check the spelling"):
        load_config(config)
