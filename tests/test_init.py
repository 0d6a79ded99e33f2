"""nlpops init: the commented template, the interactive checklist, and the generated configuration docs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlpops.checklist import NlpopsConfig, load_config
from nlpops.cli import build_app
from nlpops.init_template import QUESTIONS, iter_fields, render_config_docs, render_template

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_init_template_loads_as_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NLPOPS_HOME")  # the conftest's per-test registry home would override the file
    path = tmp_path / "nlpops.yaml"
    path.write_text(render_template(), encoding="utf-8")
    assert load_config(path).model_dump() == NlpopsConfig().model_dump()


def test_init_template_documents_every_field() -> None:
    text = render_template()
    lines = text.splitlines()
    for path, _info in iter_fields():
        key = path.split(".")[-1]
        hits = [i for i, line in enumerate(lines) if line.strip().startswith(f"{key}:")]
        assert hits, f"{path} is missing from the template"
        assert any(lines[i - 1].strip().startswith("#") for i in hits), f"{path} has no comment"


def test_init_docs_configuration_is_current() -> None:
    assert DOCS.read_text(encoding="utf-8") == render_config_docs(), (
        "docs/configuration.md is stale. Run: python -m nlpops.init_template docs/configuration.md"
    )
    for path, _info in iter_fields():
        assert f"`{path}`" in render_config_docs()


def test_init_questions_name_real_fields() -> None:
    fields = dict(iter_fields())
    assert all(q.path in fields and q.why for q in QUESTIONS)


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "nlpops.yaml"
    runner = CliRunner()
    assert runner.invoke(build_app(), ["init", "--config", str(path)]).exit_code == 0
    path.write_text("name: mine\n", encoding="utf-8")
    result = runner.invoke(build_app(), ["init", "--config", str(path)])
    assert result.exit_code != 0 and "--force" in str(result.exception)
    assert path.read_text(encoding="utf-8") == "name: mine\n"
    assert runner.invoke(build_app(), ["init", "--config", str(path), "--force"]).exit_code == 0
    assert load_config(path).name == "model"


def test_init_interactive_plain_prompts(tmp_path: Path) -> None:
    path = tmp_path / "nlpops.yaml"
    answers = {q.path: "" for q in QUESTIONS}
    answers.update(
        {
            "name": "intent",
            "traffic.peak_rps": "oops\n50",
            "languages.languages": "en, de",
            "monitoring.data_may_leave": "yes",
            "traffic.mode": "mixed",
        }
    )
    stdin = "\n".join(answers[q.path] for q in QUESTIONS) + "\n"
    result = CliRunner().invoke(build_app(), ["init", "--config", str(path), "--interactive"], input=stdin)
    assert result.exit_code == 0, result.output
    assert "why:" in result.output and "traffic.peak_rps" in result.output  # the reason, then the re-ask
    config = load_config(path)
    assert (config.name, config.traffic.peak_rps, config.traffic.mode) == ("intent", 50, "mixed")
    assert config.languages.languages == ["en", "de"] and config.monitoring.data_may_leave is True
    assert config.latency.p95_ms == NlpopsConfig().latency.p95_ms
