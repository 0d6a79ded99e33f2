"""Issue 14, "Rules that mislead": one test per flaw the issue names (each failed before the second pass)."""

from __future__ import annotations

from typing import Any

import pytest
from advisor_fixtures import read_profile

from nlpops.advisor import RuleBook, make_plan
from nlpops.checklist import NlpopsConfig


def _plan(rules: RuleBook, profile: str = "tfidf_small.json", **sections: Any) -> dict[str, Any]:
    return make_plan(NlpopsConfig.model_validate(sections), read_profile(profile), rules)


def _option(plan: dict[str, Any], dimension: str, name: str) -> dict[str, Any]:
    return next(o for o in plan["dimensions"][dimension]["options"] if o["option"] == name)


def _rules_of(option: dict[str, Any]) -> dict[str, float]:
    return {e["rule"]: e["contribution"] for e in option["evidence"] if e["rule"]}


def test_batch_plan_is_not_scored_on_online_facts(rules: RuleBook) -> None:
    # A nightly job: peak 0 req/s must not count against Kubernetes, nor an unanswered availability for it.
    plan = _plan(
        rules,
        traffic={"mode": "batch", "peak_rps": 0, "average_rps": 0, "batch_rows_per_run": 500_000_000},
        infrastructure={"kubernetes": True},
    )
    for option in plan["dimensions"]["platform"]["options"]:
        used = _rules_of(option)
        assert not {"platform-peak-load", "platform-availability", "platform-latency", "platform-burst"} & set(used)
    kubernetes = _rules_of(_option(plan, "platform", "kubernetes"))
    assert {"platform-batch-workers", "platform-batch-volume", "platform-batch-cost"} <= set(kubernetes)
    assert plan["capacity"]["replicas"] == 0 and plan["capacity"]["batch"]["workers_for_window"] >= 1


def test_online_plan_is_not_scored_on_batch_facts(rules: RuleBook) -> None:
    plan = _plan(rules, traffic={"mode": "online", "peak_rps": 50, "batch_rows_per_run": 0})
    for option in plan["dimensions"]["platform"]["options"]:
        assert not [r for r in _rules_of(option) if r.startswith("platform-batch-")]


def test_latency_ratio_is_not_clamped_half_the_latency_scores_better(rules: RuleBook) -> None:
    # int8 at ~0.7x the latency of fp32 while both miss the objective by far: it must score better on latency.
    plan = _plan(rules, "transformer_cpu.json", model={"family": "transformer"}, latency={"p95_ms": 10})
    int8 = _rules_of(_option(plan, "runtime", "onnx-int8-cpu"))["runtime-latency"]
    native = _rules_of(_option(plan, "runtime", "native-cpu"))["runtime-latency"]
    assert int8 > native
    assert native < -2  # far below the former floor of -1 x weight


def test_quantize_default_does_not_count_against_int8(rules: RuleBook) -> None:
    plan = _plan(rules)  # dependencies.quantize: none, the default
    int8 = next(e for e in _option(plan, "runtime", "onnx-int8-cpu")["evidence"] if e["rule"] == "runtime-quantize")
    assert int8["contribution"] == 0 and int8["effect"] == "neutral"
    wanted = _plan(rules, dependencies={"quantize": "int8"})
    assert _rules_of(_option(wanted, "runtime", "onnx-int8-cpu"))["runtime-quantize"] > 0


def test_image_budget_is_a_hard_limit(rules: RuleBook) -> None:
    # The scikit-learn image (125 MB base + 330 MB of packages and model) cannot beat a 400 MB budget by score.
    plan = _plan(rules, dependencies={"image_size_budget_mb": 400}, infrastructure={"docker": True})
    native = _option(plan, "runtime", "native-cpu")
    assert any("over the image budget of 400 MB" in x["reason"] for x in native["excluded"])
    assert plan["chosen"]["runtime"] in ("onnx-cpu", "onnx-int8-cpu")


def test_serverless_platform_and_runtime_agree(rules: RuleBook) -> None:
    # MiniLM: only the int8 export fits a 250 MB function package. Serverless may win only with that runtime,
    # not because the smallest runtime fits while a bigger one is chosen.
    plan = _plan(
        rules,
        "minilm.json",
        model={"family": "transformer"},
        dependencies={"serve_runtime": "native"},
        monitoring={"data_may_leave": True},
        infrastructure={"serverless": True, "docker": False, "cloud": "aws"},
    )
    serverless = _option(plan, "platform", "serverless")
    assert any("no available runtime fits" in x["reason"] for x in serverless["excluded"])
    assert plan["chosen"]["platform"] != "serverless"


def test_model_weights_count_toward_function_limits(rules: RuleBook) -> None:
    # The 1.3 GB encoder: even its int8 export (540 MB of weights) does not fit a function, whatever the runtime.
    plan = _plan(
        rules,
        "transformer_large.json",
        model={"family": "transformer"},
        monitoring={"data_may_leave": True},
        infrastructure={"serverless": True, "cloud": "aws"},
        latency={"p95_ms": 5000},
    )
    reasons = " ".join(x["reason"] for x in _option(plan, "platform", "serverless")["excluded"])
    assert "onnx-int8-cpu function package" in reasons and "over the function limit of 250 MB" in reasons


def test_serverless_memory_limit_counts(rules: RuleBook, tmp_path: Any) -> None:
    from nlpops.advisor import load_rules

    small = tmp_path / "small-functions.yaml"
    small.write_text("settings: {serverless_memory_limit_mb: 128}\n", encoding="utf-8")
    plan = make_plan(
        NlpopsConfig.model_validate(
            {"monitoring": {"data_may_leave": True}, "infrastructure": {"serverless": True, "cloud": "aws"}}
        ),
        read_profile("tfidf_small.json"),
        load_rules(small),
    )
    reasons = " ".join(x["reason"] for x in _option(plan, "platform", "serverless")["excluded"])
    assert "function memory limit of 128 MB" in reasons


def test_onnx_not_recommended_for_bundles_nlpops_cannot_export(rules: RuleBook) -> None:
    plan = _plan(
        rules,
        "modelset.json",
        languages={"languages": ["en", "de", "fr"]},
        dependencies={"serve_runtime": "onnx"},
        lifecycle={"stage": "long-lived"},
    )
    for option in ("onnx-cpu", "onnx-int8-cpu"):
        assert any("cannot export a model set" in x["reason"] for x in _option(plan, "runtime", option)["excluded"])
    assert plan["chosen"]["runtime"] is None  # ONNX was demanded and cannot be had: nothing is chosen
    assert any(w["id"] == "runtime-all-excluded" for w in plan["warnings"])


def test_cpu_misses_slo_suggests_no_gpu_when_there_is_none(rules: RuleBook) -> None:
    plan = _plan(rules, "transformer_cpu.json", model={"family": "transformer", "gpu": False}, latency={"p95_ms": 40})
    texts = [w["text"] for w in plan["warnings"] if w["id"] in ("cpu-misses-slo", "slo-unreachable")]
    assert texts and not any("GPU" in t and "no GPU" not in t for t in texts)
    with_gpu = _plan(
        rules, "transformer_cpu.json", model={"family": "transformer", "gpu": True}, latency={"p95_ms": 40}
    )
    assert any(w["id"] == "cpu-misses-slo-gpu" and "GPU" in w["text"] for w in with_gpu["warnings"])


def test_latency_evidence_separates_platforms(rules: RuleBook) -> None:
    # MiniLM: on a function only the int8 export fits, on a container every runtime does; each platform's latency
    # evidence is its own (its fitting runtimes and its request path).
    plan = _plan(
        rules,
        "minilm.json",
        model={"family": "transformer"},
        dependencies={"image_size_budget_mb": 2000},
        latency={"p95_ms": 20},
        monitoring={"data_may_leave": True},
        infrastructure={"serverless": True, "cloud": "aws", "kubernetes": True},
    )
    expected = {o["option"]: o["expected_p95_ms"] for o in plan["dimensions"]["platform"]["options"]}
    assert len({round(v, 3) for v in expected.values() if v is not None}) >= 4
    assert expected["serverless"] > expected["container"] > expected["embedded"]


def test_unmeasured_runtimes_are_not_derived_with_factors(rules: RuleBook) -> None:
    # A profile of an older nlpops measured only scikit-learn: ONNX gets no invented figures.
    plan = _plan(rules, "v1/tfidf_small.json")
    onnx = _option(plan, "runtime", "onnx-cpu")
    assert onnx["expected_p95_ms"] is None and onnx["meets_slo"] is None
    latency = next(e for e in onnx["evidence"] if e["rule"] == "runtime-latency")
    assert latency["contribution"] == 0 and "unknown" in latency["text"]


@pytest.mark.parametrize("infrastructure", [{"vms": True, "docker": False}])
def test_plain_vms_are_infrastructure(rules: RuleBook, infrastructure: dict[str, Any]) -> None:
    plan = _plan(rules, infrastructure=infrastructure, lifecycle={"stage": "long-lived"})
    assert plan["facts"]["infrastructure.none"] is False
    assert plan["chosen"]["platform"] == "container"
    assert "platform-vms" in _rules_of(_option(plan, "platform", "container"))
