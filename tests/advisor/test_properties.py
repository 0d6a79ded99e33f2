"""Monotonicity properties of the advisor (Hypothesis)."""

from __future__ import annotations

from advisor_fixtures import read_profile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlpops.advisor import RuleBook, make_plan
from nlpops.advisor.capacity import plan_capacity, replicas_for
from nlpops.advisor.facts import build_facts
from nlpops.advisor.plan import checklist_answers, score_all
from nlpops.checklist import NlpopsConfig

PROFILES = ["tfidf_small.json", "tfidf_multilingual.json", "transformer_cpu.json"]
_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _config(peak: float, slo: float, availability: float, k8s: bool) -> NlpopsConfig:
    return NlpopsConfig.model_validate(
        {
            "traffic": {"peak_rps": peak, "availability": availability},
            "latency": {"p95_ms": slo},
            "infrastructure": {"kubernetes": k8s},
            "languages": {"languages": ["en", "de"]},
        }
    )


@_SETTINGS
@given(
    low=st.floats(0, 5000),
    extra=st.floats(0, 5000),
    slo=st.floats(1, 2000),
    availability=st.sampled_from([0.9, 0.99, 0.995, 0.999, 0.9999]),
    k8s=st.booleans(),
    profile=st.sampled_from(PROFILES),
)
def test_capacity_more_peak_rps_never_fewer_replicas(
    rules: RuleBook, low: float, extra: float, slo: float, availability: float, k8s: bool, profile: str
) -> None:
    measured = read_profile(profile)
    a = make_plan(_config(low, slo, availability, k8s), measured, rules)["capacity"]["replicas"]
    b = make_plan(_config(low + extra, slo, availability, k8s), measured, rules)["capacity"]["replicas"]
    assert b >= a


@_SETTINGS
@given(
    peak=st.floats(0, 2000),
    texts=st.floats(1, 64),
    more=st.floats(0, 64),
    profile=st.sampled_from(PROFILES),
)
def test_capacity_counts_texts_not_requests(
    rules: RuleBook, peak: float, texts: float, more: float, profile: str
) -> None:
    measured = read_profile(profile)

    def capacity(rps: float, per_request: float) -> dict:
        answers = checklist_answers(_config(rps, 200, 0.99, True))
        answers["traffic"]["texts_per_request"] = per_request
        return plan_capacity(answers, measured, 1.0, "one-service", "online", rules.settings)

    batched = capacity(peak, texts)
    assert batched["peak_texts_per_s"] == peak * texts
    # k texts per request cost what k times the requests of one text each cost, and more never costs less.
    assert batched["replicas"] == capacity(peak * texts, 1.0)["replicas"]
    assert capacity(peak, texts + more)["replicas"] >= batched["replicas"]
    assert make_plan(_config(peak, 200, 0.99, True), measured, rules)["capacity"]["texts_per_request"] == 1.0


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
@given(
    slo=st.floats(1, 3000),
    tighter=st.floats(0.01, 1),
    peak=st.floats(0, 500),
    k8s=st.booleans(),
    profile=st.sampled_from(PROFILES),
)
def test_scoring_tighter_slo_never_raises_an_option_that_misses_it(
    rules: RuleBook, slo: float, tighter: float, peak: float, k8s: bool, profile: str
) -> None:
    measured = read_profile(profile)
    loose = checklist_answers(_config(peak, slo, 0.99, k8s))
    tight = checklist_answers(_config(peak, slo * tighter, 0.99, k8s))
    _, before = score_all(loose, measured, rules)
    _, after = score_all(tight, measured, rules)
    for name, dimension in before.items():
        for option in dimension["options"]:
            if option.get("meets_slo") is False:
                again = next(o for o in after[name]["options"] if o["option"] == option["option"])
                assert again["score"] <= option["score"] + 1e-9


def test_facts_language_ratio_uses_profile_counts(rules: RuleBook) -> None:
    answers = checklist_answers(NlpopsConfig.model_validate({"languages": {"languages": ["en", "de", "fr", "es"]}}))
    facts = build_facts(answers, read_profile("tfidf_multilingual.json"), rules)
    assert facts["languages.min_examples_ratio"] == 2100 / 500
