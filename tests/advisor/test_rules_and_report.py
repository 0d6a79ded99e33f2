"""Rules as data (the team's own file, validation) and the plan report (plan.json, plan.md, plan.html, compare)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from advisor_fixtures import read_profile

from nlpops.advisor import RuleBook, compare_plans, load_plan, load_rules, make_plan, save_plan
from nlpops.advisor.plan import planned_model
from nlpops.advisor.report import render_comparison
from nlpops.checklist import NlpopsConfig
from nlpops.errors import PlanError


def _config(**sections: dict) -> NlpopsConfig:
    return NlpopsConfig.model_validate(sections)


def test_rules_user_file_adds_factor_rule_and_constraint(tmp_path: Path) -> None:
    extra = tmp_path / "team.yaml"
    extra.write_text(
        """
factors:
  compliance: {title: Compliance, explanation: "Our auditors forbid functions."}
rules:
  - {id: team-likes-ray, factor: compliance, dimension: platform, text: "team policy",
     signal: {fact: traffic.peak_rps, scale: bool}, weights: {ray: 50}}
constraints:
  - {id: no-functions, factor: compliance, dimension: platform, options: [serverless],
     when: [{fact: traffic.peak_rps, op: ge, value: 0}], reason: "auditors forbid functions"}
""",
        encoding="utf-8",
    )
    book = load_rules(extra)
    plan = make_plan(_config(), read_profile("tfidf_small.json"), book)
    assert plan["chosen"]["platform"] == "ray"
    serverless = next(o for o in plan["dimensions"]["platform"]["options"] if o["option"] == "serverless")
    assert "auditors forbid functions" in [x["reason"] for x in serverless["excluded"]]
    assert "compliance" in {e["factor"] for e in serverless["evidence"]}


def test_rules_invalid_file_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        """
rules:
  - {id: r1, factor: nope, dimension: platform, text: x, signal: {fact: traffic.peak_rps, scale: log, low: 5, high: 1},
     weights: {ray: 1}}
  - {id: r2, factor: traffic, dimension: platform, text: x, signal: {fact: traffic.peak_rps, scale: bool},
     weights: {spaceship: 1}}
""",
        encoding="utf-8",
    )
    with pytest.raises(PlanError) as info:
        load_rules(bad)
    message = str(info.value)
    assert "low < high" in message and "bad.yaml" in message
    with pytest.raises(PlanError, match="does not exist"):
        load_rules(tmp_path / "missing.yaml")


def test_rules_unknown_fact_is_a_clear_error(tmp_path: Path) -> None:
    extra = tmp_path / "team.yaml"
    extra.write_text(
        "rules:\n  - {id: typo, factor: traffic, dimension: mode, text: x,"
        " signal: {fact: traffic.peek_rps, scale: bool}, weights: {online: 1}}\n",
        encoding="utf-8",
    )
    with pytest.raises(PlanError, match=r'"typo" reads unknown fact "traffic.peek_rps"'):
        make_plan(_config(), read_profile("tfidf_small.json"), load_rules(extra))


def test_rules_yaml_ships_in_the_wheel() -> None:
    from importlib import resources

    assert resources.files("nlpops.advisor").joinpath("rules.yaml").is_file()


def test_report_files_and_schema(rules: RuleBook, tmp_path: Path) -> None:
    plan = make_plan(_config(traffic={"peak_rps": 40}), read_profile("tfidf_small.json"), rules)
    paths = save_plan(plan, tmp_path / "plan")
    data = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert data["schema_version"] == 2 and data["kind"] == "nlpops-plan"
    assert set(data["dimensions"]) == {"platform", "topology", "mode", "runtime"}
    for dimension in data["dimensions"].values():
        assert dimension["chosen"] == dimension["options"][0]["option"]
        assert [o["rank"] for o in dimension["options"]] == list(range(1, len(dimension["options"]) + 1))
    assert {"replicas", "cpu_request", "memory_request_mib", "arithmetic"} <= set(data["capacity"])
    assert data["checklist"]["traffic"]["peak_rps"] == 40
    assert load_plan(paths["json"])["chosen"] == plan["chosen"]
    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert "## Capacity" in markdown and "What would change the decision" in markdown
    # the decision and its reasons lead; the checklist answers follow, only those that apply, defaults marked
    headings = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Decision" and headings.index("## Reasoning") < headings.index("## Checklist answers")
    decision = markdown.split("## Decision")[1].split("## ")[0]
    assert "| Platform | **" in decision and "runner-up" in decision
    answers = markdown.split("## Checklist answers")[1].split("\n## ")[0]
    assert "| `traffic.peak_rps` | 40 |" in answers  # answered: not marked
    assert "| `traffic.availability` | 0.99 *default* |" in answers
    for unused in ("tfidf.", "transformer.", "spacy.", "batch_rows_per_run", "model.family", "drift_psi"):
        assert unused not in answers, unused  # hyper-parameters, the batch volume of an online service, ...
    html = paths["html"].read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html and "http" not in html.split("<body>")[0]


def test_report_compare_says_what_changed_and_why(rules: RuleBook) -> None:
    profile = read_profile("tfidf_small.json")
    old = make_plan(_config(lifecycle={"stage": "poc"}, traffic={"peak_rps": 1}), profile, rules)
    new = make_plan(
        _config(
            lifecycle={"stage": "long-lived"},
            traffic={"peak_rps": 200, "availability": 0.999},
            infrastructure={"kubernetes": True},
        ),
        profile,
        rules,
    )
    comparison = compare_plans(old, new)
    assert {"lifecycle.stage", "traffic.peak_rps", "infrastructure.kubernetes"} <= {
        a["path"] for a in comparison["answers"]
    }
    platform = comparison["dimensions"]["platform"]
    assert platform["changed"] and platform["new"] == "kubernetes"
    assert any("platform-kubernetes" in why for why in platform["why"])
    assert comparison["capacity"]["replicas"]["to"] > comparison["capacity"]["replicas"]["from"]


def test_report_compare_refuses_non_plan(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}", encoding="utf-8")
    with pytest.raises(PlanError, match="not an nlpops plan"):
        load_plan(tmp_path / "x.json")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_report_html_renders_in_headless_chromium_without_console_errors(rules: RuleBook, tmp_path: Path) -> None:
    playwright = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    browser_path = _chromium()
    if browser_path is None:
        pytest.skip("no chromium on PATH (apt-get install -y chromium)")
    profile = read_profile("transformer_cpu.json")
    plan = make_plan(_config(), profile, rules, model=planned_model(profile))  # named after the profiled model
    name = plan["name"]
    html = save_plan(plan, tmp_path / "plan", compare_plans(plan, plan))["html"]
    viewport = {"width": 1280, "height": 800}
    messages: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=viewport)
            page.on(
                "console", lambda m: messages.append(m.type + ": " + m.text) if m.type in ("error", "warning") else None
            )
            page.on("pageerror", lambda e: messages.append(str(e)))
            page.on("requestfailed", lambda r: messages.append("request failed: " + r.url))
            page.goto(html.resolve().as_uri())
            assert f"Deployment plan for {name}" in page.title()
            assert page.locator("h2", has_text="Capacity").count() == 1
            page.screenshot(path=str(tmp_path / "plan.png"))
            # at 1280x800 the model's name and the whole decision (chosen options, reasons, capacity) are above
            # the fold; the reasoning and the checklist answers come after it
            assert page.text_content("#model") == name == profile["bundle"]["name"]
            boxes = {s: page.locator(s).bounding_box() for s in ("#model", "#decision table", "#decision .lead")}
            for selector, box in boxes.items():
                assert box is not None and box["y"] >= 0, selector
                assert box["y"] + box["height"] <= viewport["height"], (selector, box)
                assert box["x"] + box["width"] <= viewport["width"], (selector, box)
            assert page.locator("#decision tbody tr").count() == len(plan["dimensions"])
            reasoning = page.locator("h2", has_text="Reasoning").bounding_box()
            answers = page.locator("#answers").bounding_box()
            assert reasoning is not None and answers is not None
            assert boxes["#decision .lead"]["y"] < reasoning["y"] < answers["y"]  # type: ignore[index]
        finally:
            browser.close()
    assert (tmp_path / "plan.png").stat().st_size > 10_000
    assert messages == []


def test_report_compare_reads_a_plan_of_the_first_schema(rules: RuleBook) -> None:
    # plans/v1/plan.json: written by nlpops before issue 14 (the nightly batch checklist of
    # benchmarks/advisor_before_after); nlpops plan --compare and nlpops deploy still read it.
    old = load_plan(Path(__file__).parent / "plans" / "v1" / "plan.json")
    assert old["schema_version"] == 1
    new = make_plan(
        _config(traffic={"mode": "batch", "peak_rps": 0, "average_rps": 0, "batch_rows_per_run": 2_000_000}),
        read_profile("tfidf_small.json"),
        rules,
    )
    comparison = compare_plans(old, new)
    assert comparison["verdict"] is None and comparison["dimensions"]["mode"]["new"] == "batch"
    assert "## What changed since the previous plan" in "\n".join(render_comparison(comparison))


def _topology_scores(plan: dict) -> dict[str, float]:  # type: ignore[type-arg]
    return {o["option"]: o["score"] for o in plan["dimensions"]["topology"]["options"]}


def test_measured_strategy_figures_move_the_topology(rules: RuleBook) -> None:
    # a model set's manifest records per-language vs multilingual as served; the profile carries them
    config = _config(languages={"languages": ["en", "de", "fr"], "strategy": "auto"})
    worse = read_profile("modelset.json")
    worse["bundle"]["strategy_figures"] = {"per-language": 0.63, "multilingual": 0.66, "strategy": "multilingual"}
    better = read_profile("modelset.json")
    better["bundle"]["strategy_figures"] = {"per-language": 0.70, "multilingual": 0.64, "strategy": "per-language"}
    base, down, up = (
        _topology_scores(make_plan(config, p, rules)) for p in (read_profile("modelset.json"), worse, better)
    )
    assert down["multilingual"] > base["multilingual"] > up["multilingual"]
    assert down["one-service"] < base["one-service"] < up["one-service"]
    evidence = json.dumps(make_plan(config, worse, rules)["dimensions"]["topology"])
    assert "topology-measured-gain" in evidence and "-0.030 macro-F1" in evidence
