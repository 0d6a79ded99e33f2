"""Properties of the advisor over open-ended checklists (Hypothesis): more load never needs fewer replicas, a
tighter objective never picks a slower runtime, an excluded option never wins, platform and runtime agree."""

from __future__ import annotations

import functools
from typing import Any

from advisor_fixtures import read_profile
from fixture_profiles import PROFILES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlpops.advisor import RuleBook, load_rules, make_plan
from nlpops.advisor.capacity import plan_capacity, replicas_for
from nlpops.advisor.facts import build_facts
from nlpops.advisor.limits import fit_problems
from nlpops.advisor.plan import checklist_answers, score_all
from nlpops.advisor.runtimes import best_p95_ms, runtime_entry
from nlpops.checklist import NlpopsConfig


@functools.cache
def _rules() -> RuleBook:
    return load_rules()


_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_LANGS = ["en", "de", "fr", "es"]


@st.composite
def checklists(draw: st.DrawFn) -> dict[str, Any]:
    """A checklist as an engineer might fill it in, anywhere in the space of valid answers."""
    languages = draw(st.lists(st.sampled_from(_LANGS), min_size=1, max_size=4, unique=True))
    peak = draw(st.floats(0, 3000))
    mode = draw(st.sampled_from(["online", "batch", "mixed"]))
    return {
        "model": {"family": draw(st.sampled_from(["tfidf", "transformer", "spacy"])), "gpu": draw(st.booleans())},
        "languages": {
            "languages": languages,
            "strategy": draw(st.sampled_from(["auto", "per-language", "multilingual"])),
        },
        "dependencies": {
            "image_size_budget_mb": draw(st.sampled_from([300, 500, 1000, 2500, 5000])),
            "serve_runtime": draw(st.sampled_from(["auto", "onnx", "native"])),
            "quantize": draw(st.sampled_from(["none", "int8"])),
        },
        "traffic": {
            "mode": mode,
            "peak_rps": peak,
            "average_rps": peak * draw(st.floats(0, 1)),
            "availability": draw(st.sampled_from([0.9, 0.99, 0.995, 0.999, 0.9999])),
            "batch_rows_per_run": draw(st.sampled_from([0, 10_000, 2_000_000])) if mode != "online" else 0,
        },
        "latency": {"p95_ms": draw(st.floats(1, 3000))},
        "lifecycle": {"stage": draw(st.sampled_from(["poc", "long-lived"]))},
        "monitoring": {"data_may_leave": draw(st.booleans())},
        "infrastructure": {
            "kubernetes": draw(st.booleans()),
            "docker": draw(st.booleans()),
            "serverless": draw(st.booleans()),
            "vms": draw(st.booleans()),
            "cloud": draw(st.sampled_from(["none", "aws"])),
            "caller_language": draw(st.sampled_from([None, "python", "java"])),
        },
    }


def _config(data: dict[str, Any], **changes: Any) -> NlpopsConfig:
    merged = {section: dict(values) for section, values in data.items()}
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        merged.setdefault(section, {})[key] = value
    return NlpopsConfig.model_validate(merged)


@_SETTINGS
@given(checklist=checklists(), extra=st.floats(0, 5000), profile=st.sampled_from(sorted(PROFILES)))
def test_capacity_more_peak_rps_never_fewer_replicas(checklist: dict[str, Any], extra: float, profile: str) -> None:
    rules = _rules()
    measured = read_profile(profile)
    peak = checklist["traffic"]["peak_rps"]
    a = make_plan(_config(checklist), measured, rules)["capacity"]
    b = make_plan(_config(checklist, traffic__peak_rps=peak + extra), measured, rules)["capacity"]
    if a.get("sized") and b.get("sized"):
        assert b["replicas"] >= a["replicas"]


@_SETTINGS
@given(checklist=checklists(), tighter=st.floats(0.01, 1), profile=st.sampled_from(sorted(PROFILES)))
def test_scoring_tighter_target_never_picks_a_slower_runtime(
    checklist: dict[str, Any], tighter: float, profile: str
) -> None:
    rules = _rules()
    measured = read_profile(profile)
    slo = checklist["latency"]["p95_ms"]
    loose = make_plan(_config(checklist), measured, rules)["chosen"]
    tight = make_plan(_config(checklist, latency__p95_ms=slo * tighter), measured, rules)["chosen"]
    before = best_p95_ms(runtime_entry(measured, loose["runtime"])) if loose["runtime"] else None
    after = best_p95_ms(runtime_entry(measured, tight["runtime"])) if tight["runtime"] else None
    # On the same platform the runtime never gets slower. A tighter target may move the platform (a function's
    # request path no longer fits it), and the new platform may take a runtime a function could not hold: that
    # one may be slower, but only if it meets the tighter target.
    if before is not None and after is not None and after > before + 1e-9:
        assert loose["platform"] != tight["platform"] and after <= slo * tighter, (loose, tight, checklist)


@_SETTINGS
@given(checklist=checklists(), profile=st.sampled_from(sorted(PROFILES)))
def test_scoring_excluded_option_never_wins_and_runtime_fits_platform(checklist: dict[str, Any], profile: str) -> None:
    rules = _rules()
    measured = read_profile(profile)
    plan = make_plan(_config(checklist), measured, rules)
    for dimension in plan["dimensions"].values():
        winner = next((o for o in dimension["options"] if o["option"] == dimension["chosen"]), None)
        if winner is not None:
            assert not winner["excluded"]
        else:
            assert all(o["excluded"] for o in dimension["options"])
    platform, runtime = plan["chosen"]["platform"], plan["chosen"]["runtime"]
    if platform and runtime:
        budget = float(checklist["dependencies"]["image_size_budget_mb"])
        assert fit_problems(platform, runtime, runtime_entry(measured, runtime), budget, rules.settings) == []


@_SETTINGS
@given(
    peak=st.floats(0, 2000),
    texts=st.floats(1, 64),
    more=st.floats(0, 64),
    profile=st.sampled_from(sorted(PROFILES)),
)
def test_capacity_counts_texts_not_requests(peak: float, texts: float, more: float, profile: str) -> None:
    rules = _rules()
    measured = read_profile(profile)
    runtime = next(o for o, e in measured["runtimes"].items() if e["status"] == "measured")
    chosen = {"platform": "kubernetes", "topology": "one-service", "mode": "online", "runtime": runtime}

    def capacity(rps: float, per_request: float) -> dict:
        answers = checklist_answers(NlpopsConfig.model_validate({"traffic": {"peak_rps": rps, "average_rps": 0}}))
        answers["traffic"]["texts_per_request"] = per_request
        return plan_capacity(answers, measured, runtime, chosen, rules.settings)

    batched = capacity(peak, texts)
    assert batched["peak_texts_per_s"] == peak * texts
    # k texts per request cost what k times the requests of one text each cost, and more never costs less.
    assert batched["replicas"] == capacity(peak * texts, 1.0)["replicas"]
    assert capacity(peak, texts + more)["replicas"] >= batched["replicas"]


@given(
    peak=st.floats(0, 1e6),
    more=st.floats(0, 1e6),
    per=st.floats(0.1, 1e5),
    util=st.floats(0.05, 1),
    spares=st.integers(0, 3),
)
def test_capacity_replicas_for_monotone(peak: float, more: float, per: float, util: float, spares: int) -> None:
    assert replicas_for(peak + more, per, util, spares) >= replicas_for(peak, per, util, spares)


@_SETTINGS
@given(checklist=checklists(), tighter=st.floats(0.01, 1), profile=st.sampled_from(sorted(PROFILES)))
def test_scoring_tighter_slo_never_raises_an_option_that_misses_it(
    checklist: dict[str, Any], tighter: float, profile: str
) -> None:
    rules = _rules()
    measured = read_profile(profile)
    loose = checklist_answers(_config(checklist))
    tight = checklist_answers(_config(checklist, latency__p95_ms=checklist["latency"]["p95_ms"] * tighter))
    _, before = score_all(loose, measured, rules)
    _, after = score_all(tight, measured, rules)
    for name in ("runtime",):  # the platform's latency evidence depends on which runtimes fit it: same here
        for option in before[name]["options"]:
            if option.get("meets_slo") is False:
                again = next(o for o in after[name]["options"] if o["option"] == option["option"])
                assert again["score"] <= option["score"] + 1e-9


def test_facts_language_ratio_uses_profile_counts(rules: RuleBook) -> None:
    answers = checklist_answers(NlpopsConfig.model_validate({"languages": {"languages": ["en", "de", "fr", "es"]}}))
    facts = build_facts(answers, read_profile("tfidf_multilingual.json"), rules)
    assert facts["languages.min_examples_ratio"] == 2100 / 500
