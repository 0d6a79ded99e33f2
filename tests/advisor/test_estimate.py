"""Planning before training: a model described by family and size (and a reference model measured in its place)
gets a plan labelled estimated; a later profile of the trained bundle confirms or revises it (plan --compare)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from advisor_fixtures import read_profile
from typer.testing import CliRunner

from nlpops.advisor import RuleBook, compare_plans, make_plan
from nlpops.bundle import Bundle
from nlpops.checklist import NlpopsConfig, RegistrySettings
from nlpops.cli import build_app
from nlpops.profile import estimate_profile

_CHECKLIST = {
    "model": {"family": "tfidf", "size_mb": 6.5},
    "traffic": {"peak_rps": 400, "average_rps": 50, "availability": 0.999},
    "lifecycle": {"stage": "long-lived"},
    "infrastructure": {"kubernetes": True},
}


def test_estimated_plan_without_a_reference_decides_on_sizes_and_sizes_nothing(rules: RuleBook) -> None:
    big = {"model": {"family": "transformer", "size_mb": 1300}, "dependencies": {"image_size_budget_mb": 6000}}
    config = NlpopsConfig.model_validate({**_CHECKLIST, **big})
    plan = make_plan(config, estimate_profile(config.model.model_dump(mode="json")), rules)
    assert plan["estimated"] and plan["basis"].startswith("declared")
    assert plan["capacity"]["sized"] is False
    assert any(w["id"] == "estimated-plan" and "ESTIMATED" in w["text"] for w in plan["warnings"])
    defaults = {d["path"] for d in plan["defaults"]}
    assert "model.reference" in defaults  # before training, a reference to measure is asked for
    assert plan["chosen"]["platform"] == "kubernetes"


def test_later_profile_confirms_an_estimate_measured_on_a_like_reference(rules: RuleBook) -> None:
    config = NlpopsConfig.model_validate(_CHECKLIST)
    reference = read_profile("tfidf_small.json")
    estimated = make_plan(config, estimate_profile(config.model.model_dump(mode="json"), reference), rules)
    assert estimated["estimated"] and estimated["capacity"]["sized"]
    measured = make_plan(config, read_profile("tfidf_small.json"), rules)
    comparison = compare_plans(estimated, measured)
    assert comparison["verdict"] == "confirms"
    assert comparison["basis"]["to"] == "measured" and "reference" in comparison["basis"]["from"]


def test_later_profile_revises_an_estimate_that_was_wrong(rules: RuleBook) -> None:
    config = NlpopsConfig.model_validate({**_CHECKLIST, "model": {"family": "tfidf", "size_mb": 900}})
    estimated = make_plan(config, estimate_profile(config.model.model_dump(mode="json")), rules)
    measured = make_plan(config, read_profile("tfidf_small.json"), rules)
    comparison = compare_plans(estimated, measured)
    assert comparison["verdict"] == "revises"
    assert comparison["capacity"]["sized"] == {"from": False, "to": True}


def test_cli_plan_before_training_with_a_reference_then_compare(tiny_bundle: Bundle, tmp_path: Path) -> None:
    from nlpops.profile import profile_bundle
    from nlpops.registry import open_registry

    registry = open_registry(RegistrySettings(home=Path(os.environ["NLPOPS_HOME"])))
    entry = registry.register(tiny_bundle.path, name="like-ours")
    quick = profile_bundle(tiny_bundle.path, budget_s=0.2, threads=1, repeats=1, batch_sizes=(1, 8))
    registry.save_attachment(entry.name, entry.version, "profile", quick)
    config = tmp_path / "nlpops.yaml"
    config.write_text(
        f"version: 1\nmodel: {{family: tfidf, size_mb: 40, reference: 'like-ours:{entry.version}'}}\n"
        "traffic: {peak_rps: 30, average_rps: 5}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    result = runner.invoke(build_app(), ["plan", "--config", str(config), "--out", str(tmp_path / "estimated")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ESTIMATED plan: measured on the reference model")
    estimated = json.loads((tmp_path / "estimated" / "plan.json").read_text(encoding="utf-8"))
    assert estimated["estimated"] and estimated["profile"]["size_bytes"] == 40_000_000
    assert "ESTIMATED plan" in (tmp_path / "estimated" / "plan.md").read_text(encoding="utf-8")
    profile = tmp_path / "measured.json"
    profile.write_text(json.dumps(quick), encoding="utf-8")
    args = ["plan", "--config", str(config), "--profile-file", str(profile), "--compare"]
    result = runner.invoke(
        build_app(), [*args, str(tmp_path / "estimated" / "plan.json"), "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 0, result.output
    assert "the measured profile confirms the estimated plan" in result.output or "revises" in result.output
    assert "basis: measured on the reference model" in result.output


def test_cli_plan_without_profile_or_description_says_what_to_give(tmp_path: Path) -> None:
    (tmp_path / "nlpops.yaml").write_text("version: 1\n", encoding="utf-8")
    result = CliRunner().invoke(build_app(), ["plan", "--config", str(tmp_path / "nlpops.yaml")])
    assert result.exit_code == 1
    assert "model.size_mb" in str(result.exception) and "--profile" in str(result.exception)


def test_cli_plan_strict_refuses_unreliable_profile(tmp_path: Path) -> None:
    profile = read_profile("tfidf_small.json")
    profile["reliability"] = {"reliable": False, "problems": ["other processes used up to 1.8 of the 2 CPUs"]}
    path = tmp_path / "busy.json"
    path.write_text(json.dumps(profile), encoding="utf-8")
    args = ["plan", "--profile-file", str(path), "--out", str(tmp_path / "p")]
    refused = CliRunner().invoke(build_app(), [*args, "--strict"])
    assert refused.exit_code == 1 and "1.8 of the 2 CPUs" in str(refused.exception)
    kept = CliRunner().invoke(build_app(), args)
    assert kept.exit_code == 0 and "may not be trustworthy" in kept.output
