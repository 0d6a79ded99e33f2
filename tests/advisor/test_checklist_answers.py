"""Issue 14, "Answers it cannot take": every checklist answer is accepted, validated, documented with its
question, read by a rule, and a plan lists the answers that were only defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from advisor_fixtures import read_profile
from typer.testing import CliRunner

from nlpops.advisor import RuleBook, make_plan
from nlpops.checklist import NlpopsConfig, load_config
from nlpops.cli import build_app
from nlpops.errors import ConfigError
from nlpops.init_template import QUESTIONS, parse_answer, render_config_docs, render_template

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _config(**sections: Any) -> NlpopsConfig:
    return NlpopsConfig.model_validate(sections)


def _plan(rules: RuleBook, profile: str = "tfidf_small.json", **sections: Any) -> dict[str, Any]:
    return make_plan(_config(**sections), read_profile(profile), rules)


def _evidence(plan: dict[str, Any], dimension: str, option: str) -> dict[str, float]:
    entry = next(o for o in plan["dimensions"][dimension]["options"] if o["option"] == option)
    return {e["rule"]: e["contribution"] for e in entry["evidence"] if e["rule"]}


def test_checklist_takes_every_answer(tmp_path: Path) -> None:
    path = tmp_path / "nlpops.yaml"
    path.write_text(
        """
version: 1
model: {family: transformer, size_mb: 1300, reference: models/minilm}
languages: {languages: [en, de], examples_per_language: {en: 5000, de: 800}, traffic_shares: {en: 0.8, de: 0.2}}
retraining: {schedule: "0 * * * *", location: separate}
traffic: {mode: mixed, peak_rps: 100, average_rps: 10, batch_rows_per_run: 1000, batch_window_hours: 3}
monitoring: {alerting: true, dashboards: true}
infrastructure: {vms: true, grafana: true, caller_language: go}
""",
        encoding="utf-8",
    )
    config = load_config(path)
    assert (config.model.size_mb, config.model.reference) == (1300, "models/minilm")
    assert config.languages.examples_per_language == {"en": 5000, "de": 800}
    assert config.languages.traffic_shares == {"en": 0.8, "de": 0.2}
    assert (config.retraining.location, config.traffic.batch_window_hours) == ("separate", 3)
    assert (config.infrastructure.vms, config.infrastructure.caller_language) == (True, "go")


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("languages", {"languages": ["en"], "traffic_shares": {"de": 1.0}}, "traffic_shares names de"),
        ("languages", {"languages": ["en", "de"], "traffic_shares": {"en": 0.5, "de": 0.2}}, "add up to 1"),
        ("languages", {"languages": ["en"], "examples_per_language": {"en": -3}}, "must be >= 0"),
        ("retraining", {"schedule": "every night"}, "not a five-field cron"),
        ("traffic", {"batch_window_hours": 0}, r"traffic\.batch_window_hours: Input should be greater than 0"),
        ("infrastructure", {"caller_language": "cobol"}, r"infrastructure\.caller_language: Input should be 'python'"),
        ("model", {"size_mb": -1}, r"model\.size_mb: Input should be greater than 0"),
        ("retraining", {"location": "mars"}, r"retraining\.location: Input should be .*'separate'"),
    ],
)
def test_checklist_invalid_answers_are_refused_with_their_path(
    tmp_path: Path, section: str, values: dict[str, Any], message: str
) -> None:
    path = tmp_path / "nlpops.yaml"
    path.write_text(f"{section}: {values!r}\n".replace("'", '"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_checklist_v1_file_keeps_loading() -> None:
    config = load_config(FIXTURES / "nlpops-v1.yaml")
    assert config.model.size_mb is None and config.infrastructure.vms is False
    assert config.traffic.batch_window_hours == 6.0 and config.languages.traffic_shares == {}


def test_template_documents_each_answer_with_its_question() -> None:
    lines = render_template().splitlines()
    docs = render_config_docs()
    for question in QUESTIONS:
        key = question.path.split(".")[-1]
        at = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{key}:") and "Q:" in lines[i - 2])
        assert lines[at - 2].strip() == f"# Q: {question.text} ({question.why})"
        assert f"**{question.text}**" in docs
    paths = {q.path for q in QUESTIONS}
    read = {
        "model.size_mb", "model.reference", "languages.examples_per_language", "languages.traffic_shares",
        "traffic.average_rps", "traffic.batch_window_hours", "retraining.location", "monitoring.alerting",
        "monitoring.dashboards", "infrastructure.vms", "infrastructure.grafana", "infrastructure.caller_language",
    }  # fmt: skip
    assert read <= paths


def test_interactive_answers_for_maps_and_related_answers() -> None:
    assert parse_answer("languages.traffic_shares", "en=0.7, de=0.3", {"languages.languages": ["en", "de"]}) == {
        "en": 0.7,
        "de": 0.3,
    }
    assert parse_answer("languages.examples_per_language", "en: 5000", {}) == {"en": 5000}
    assert parse_answer("model.size_mb", "300") == 300.0
    assert parse_answer("dependencies.quantize", "none") == "none"
    with pytest.raises(ConfigError, match="traffic_shares names de"):
        parse_answer("languages.traffic_shares", "en=0.5, de=0.5", {"languages.languages": ["en"]})
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_answer("languages.traffic_shares", "en", {})


def test_plan_lists_defaulted_answers_and_asks_for_them(rules: RuleBook) -> None:
    plan = _plan(rules)  # an empty nlpops.yaml
    listed = {d["path"]: d for d in plan["defaults"]}
    for path in ("traffic.peak_rps", "traffic.average_rps", "traffic.availability", "latency.p95_ms"):
        assert listed[path]["question"].endswith("?")
    assert "traffic.batch_rows_per_run" not in listed  # an online service: the batch volume cannot matter
    answered = _plan(rules, traffic={"peak_rps": 50, "availability": 0.999})
    assert not {"traffic.peak_rps", "traffic.availability"} & {d["path"] for d in answered["defaults"]}


def test_cli_plan_prints_the_assumed_answers(tmp_path: Path) -> None:
    import json

    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(read_profile("tfidf_small.json")), encoding="utf-8")
    (tmp_path / "nlpops.yaml").write_text("version: 1\n", encoding="utf-8")
    args = ["plan", "--config", str(tmp_path / "nlpops.yaml"), "--profile-file", str(profile)]
    result = CliRunner().invoke(build_app(), [*args, "--out", str(tmp_path / "plan")])
    assert result.exit_code == 0, result.output
    assert "answers nlpops assumed" in result.output and "traffic.peak_rps = 10" in result.output
    report = (tmp_path / "plan" / "plan.md").read_text(encoding="utf-8")
    assert "| `traffic.peak_rps` | 10 *default* | Peak requests per second? |" in report


def test_examples_per_language_is_a_declared_answer(rules: RuleBook) -> None:
    # The bundle counted no languages: the declared counts decide, and an unknown one is said.
    languages = {"languages": ["en", "de"], "examples_per_language": {"en": 5000, "de": 250}}
    plan = _plan(rules, languages=languages, traffic={"peak_rps": 50})
    assert plan["facts"]["languages.min_examples_ratio"] == 250 / 500
    unknown = _plan(rules, languages={"languages": ["en", "de"]})
    assert unknown["facts"]["languages.min_examples_ratio"] is None
    assert any(w["id"] == "examples-unknown" and "de" in w["text"] for w in unknown["warnings"])


def test_retraining_frequency_is_more_than_yes_or_no(rules: RuleBook) -> None:
    weekly = _plan(rules, retraining={"schedule": "0 3 * * 0"})
    hourly = _plan(rules, retraining={"schedule": "0 * * * *"})
    assert weekly["facts"]["retraining.runs_per_month"] in (4.0, 5.0)
    assert hourly["facts"]["retraining.runs_per_month"] == 720.0
    assert (
        _evidence(hourly, "platform", "kubernetes")["platform-retraining"]
        > _evidence(weekly, "platform", "kubernetes")["platform-retraining"]
    )


def test_retraining_location_is_read(rules: RuleBook) -> None:
    on_k8s = _plan(rules, retraining={"location": "kubernetes"}, infrastructure={"kubernetes": True})
    assert _evidence(on_k8s, "platform", "kubernetes")["platform-retraining-kubernetes"] > 0
    missing = _plan(rules, retraining={"location": "kubernetes", "schedule": "0 3 * * 0"})
    assert any(w["id"] == "retraining-location-missing" for w in missing["warnings"])
    separate = _plan(rules, retraining={"location": "separate", "schedule": "0 3 * * *"})
    assert any(w["id"] == "retraining-separate" for w in separate["warnings"])


def test_calling_application_language_decides_embedding(rules: RuleBook) -> None:
    java = _plan(rules, infrastructure={"caller_language": "java"})
    embedded = next(o for o in java["dimensions"]["platform"]["options"] if o["option"] == "embedded")
    assert any("written in java" in x["reason"] for x in embedded["excluded"])
    python = _plan(rules, infrastructure={"caller_language": "python"})
    assert _evidence(python, "platform", "embedded")["platform-caller"] > 0


def test_average_rps_is_read_as_the_burst(rules: RuleBook) -> None:
    steady = _plan(rules, traffic={"peak_rps": 100, "average_rps": 90})
    bursty = _plan(rules, traffic={"peak_rps": 100, "average_rps": 2})
    assert bursty["facts"]["traffic.burst_ratio"] == 50
    assert (
        _evidence(bursty, "platform", "kubernetes")["platform-burst"]
        > _evidence(steady, "platform", "kubernetes")["platform-burst"]
    )


def test_monitoring_answers_are_read(rules: RuleBook) -> None:
    plan = _plan(rules, monitoring={"alerting": True, "dashboards": True})
    assert {"alerting-without-prometheus", "dashboards-without-grafana"} <= {w["id"] for w in plan["warnings"]}
    ready = _plan(
        rules,
        monitoring={"alerting": True, "dashboards": True},
        infrastructure={"prometheus": True, "grafana": True},
    )
    assert not {"alerting-without-prometheus", "dashboards-without-grafana"} & {w["id"] for w in ready["warnings"]}
    assert _evidence(ready, "platform", "kubernetes")["platform-dashboards"] > 0
    assert _evidence(ready, "platform", "embedded")["platform-monitoring-stack"] < 0
