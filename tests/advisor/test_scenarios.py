"""Scenario tests: a checklist and a measured profile in, the expected winner per dimension and the
expected exclusions (with their reasons) out."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from advisor_fixtures import SCENARIOS, read_profile

from nlpops.advisor import RuleBook, make_plan
from nlpops.checklist import load_config
from nlpops.init_template import QUESTIONS, default_value


def _plan(folder: Path, rules: RuleBook) -> tuple[dict, dict]:
    expected = yaml.safe_load((folder / "expected.yaml").read_text(encoding="utf-8"))
    plan = make_plan(load_config(folder / "nlpops.yaml"), read_profile(expected["profile"]), rules)
    return plan, expected


def _has(data: dict, dotted: str) -> bool:
    node = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _option(plan: dict, dimension: str, name: str) -> dict:
    return next(o for o in plan["dimensions"][dimension]["options"] if o["option"] == name)


def test_scenarios_at_least_twenty() -> None:
    assert len(SCENARIOS) >= 20
    for folder in SCENARIOS:  # each states its winners, its exclusions and its required warnings (maybe none)
        expected = yaml.safe_load((folder / "expected.yaml").read_text(encoding="utf-8"))
        assert {"chosen", "excluded", "warnings"} <= set(expected), folder.name
        assert expected["chosen"] and expected["excluded"], folder.name


@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario_plan_lists_the_answers_it_defaulted(folder: Path, rules: RuleBook) -> None:
    plan, _ = _plan(folder, rules)
    given = yaml.safe_load((folder / "nlpops.yaml").read_text(encoding="utf-8"))
    listed = {d["path"] for d in plan["defaults"]}
    for entry in plan["defaults"]:
        assert entry["value"] == default_value(entry["path"]) and entry["question"].endswith("?")
    # Every checklist question this scenario does not answer, and that bears on its plan, is listed.
    relevant = {q.path for q in QUESTIONS} - {"name", "model.size_mb", "model.reference"}
    if plan["checklist"]["traffic"]["mode"] == "batch":
        relevant -= {"traffic.peak_rps", "traffic.average_rps", "traffic.texts_per_request", "traffic.availability",
                     "latency.p95_ms"}  # fmt: skip
    if plan["checklist"]["traffic"]["mode"] == "online":
        relevant -= {"traffic.batch_rows_per_run", "traffic.batch_window_hours"}
    if len(plan["checklist"]["languages"]["languages"]) == 1:
        relevant -= {"languages.strategy", "languages.examples_per_language", "languages.traffic_shares"}
    else:
        relevant -= {"languages.examples_per_language"}  # the fixture profiles count every language
    unanswered = {path for path in relevant if not _has(given, path)}
    assert unanswered <= listed, unanswered - listed


@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario_expected_plan(folder: Path, rules: RuleBook) -> None:
    plan, expected = _plan(folder, rules)
    for dimension, winners in expected.get("chosen", {}).items():
        assert plan["chosen"][dimension] in winners, (dimension, plan["dimensions"][dimension]["options"])
    for dimension, options in expected.get("excluded", {}).items():
        for name, reason in options.items():
            excluded = _option(plan, dimension, name)["excluded"]
            assert excluded, f"{dimension}.{name} should be excluded"
            assert any(reason in x["reason"] for x in excluded), excluded
    for dimension, names in expected.get("not_excluded", {}).items():
        for name in names:
            assert not _option(plan, dimension, name)["excluded"]
    for dimension, names in expected.get("losers_with_evidence_against", {}).items():
        for name in names:
            option = _option(plan, dimension, name)
            assert option["option"] != plan["chosen"][dimension]
            assert any(e["effect"] == "against" for e in option["evidence"])
    warnings = {w["id"] for w in plan["warnings"]}
    assert set(expected.get("warnings", [])) <= warnings


@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario_data_may_not_leave_excludes_managed_endpoint(folder: Path, rules: RuleBook) -> None:
    config = load_config(folder / "nlpops.yaml", {"monitoring": {"data_may_leave": False}})
    expected = yaml.safe_load((folder / "expected.yaml").read_text(encoding="utf-8"))
    plan = make_plan(config, read_profile(expected["profile"]), rules)
    managed = _option(plan, "platform", "managed")
    assert any("may not leave the company" in x["reason"] for x in managed["excluded"])
    assert plan["chosen"]["platform"] != "managed"


@pytest.mark.parametrize("folder", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario_every_option_has_evidence_from_every_factor(folder: Path, rules: RuleBook) -> None:
    plan, _ = _plan(folder, rules)
    for dimension in plan["dimensions"].values():
        for option in dimension["options"]:
            assert {e["factor"] for e in option["evidence"]} == set(rules.factors)
            assert option["score"] == pytest.approx(
                option["prior"] + sum(e["contribution"] for e in option["evidence"]), abs=1e-3
            )


def test_scenario_slo_too_tight_ranks_quantized_first_and_warns(rules: RuleBook) -> None:
    plan, _ = _plan(next(p for p in SCENARIOS if p.name == "slo_too_tight"), rules)
    runtime = plan["dimensions"]["runtime"]
    assert runtime["options"][0]["option"] == "onnx-int8-cpu"
    assert not _option(plan, "runtime", "native-cpu")["meets_slo"]
    assert any("quantized or smaller model" in w["text"] for w in plan["warnings"])


def test_scenario_poc_kubernetes_and_ray_lose_with_reasons(rules: RuleBook) -> None:
    plan, _ = _plan(next(p for p in SCENARIOS if p.name == "poc_english"), rules)
    ranks = {o["option"]: o["rank"] for o in plan["dimensions"]["platform"]["options"]}
    assert ranks["kubernetes"] > ranks["container"] and ranks["ray"] > ranks["container"]
    against = {e["rule"] for e in _option(plan, "platform", "kubernetes")["evidence"] if e["effect"] == "against"}
    assert {"platform-peak-load", "platform-kubernetes", "platform-lifecycle"} <= against


def test_scenario_batch_capacity_shows_hours(rules: RuleBook) -> None:
    plan, _ = _plan(next(p for p in SCENARIOS if p.name == "nightly_batch"), rules)
    batch = plan["capacity"]["batch"]
    assert batch["rows_per_run"] == 5_000_000
    assert batch["hours_per_run_one_worker"] == pytest.approx(
        5_000_000 / batch["texts_per_s_per_worker"] / 3600, rel=1e-3
    )
    assert any("h on one worker" in line for line in plan["capacity"]["arithmetic"])
