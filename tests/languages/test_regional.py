"""Languages the detector does not know (sib200_regional: Friulian, Lombard, Sicilian, Sardinian next to
Italian; Asturian next to Spanish; Limburgish next to Dutch; Silesian next to Polish): trained without renaming,
routed only where detection is sure, scored as served, monitored like with like."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from language_support import (
    REGIONAL_RELATIVES,
    macro_f1,
    per_language_sample,
    reached_relative,
    served_predictions,
    subprocess_env,
)

from nlpops.api import evaluate
from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, RegistrySettings, ServingSettings
from nlpops.data import Dataset, bundled_dataset, read_dataset
from nlpops.languages import sub_bundle_paths
from nlpops.registry import open_registry
from nlpops.runtimes import load_predictor
from nlpops.serve import build_app, bundle_source
from nlpops.testing.serving import live_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_support import cli_server

NLPOPS = str(Path(sys.executable).parent / "nlpops")
FAST_YAML = "model:\n  tfidf:\n    word_ngram_max: 1\n    char_ngram_max: 3\n    max_features: 4000\n"


def _serve(bundle: Bundle):  # type: ignore[no-untyped-def]
    return live_server(build_app(bundle_source(bundle.path), ServingSettings(), MonitoringSettings(), follow=False))


def test_regional_languages_train_their_own_models_without_renaming(regional_set: Bundle) -> None:
    manifest = regional_set.manifest
    assert manifest.languages == ["ast", "es", "fur", "it", "li", "lmo", "nl", "pl", "sc", "scn", "szl"]
    assert sorted(sub_bundle_paths(regional_set)) == sorted([*manifest.languages, "fallback"])
    detection = manifest.metrics["detection"]
    candidates = detection["candidates"]
    # py3langid names every regional text as some known language; the set's own classifier knows them all
    assert detection["chosen"] == "classifier.v1"
    assert candidates["classifier.v1"]["routing_accuracy"] > candidates["py3langid.v2"]["routing_accuracy"]
    # py3langid cannot tell Silesian from Polish: calibration never lets it route to the Polish model
    assert candidates["py3langid.v2"]["thresholds"]["pl"] is None
    assert (regional_set.path / "models" / "language-id" / "nlpops-bundle.json").is_file()


def test_served_without_lang_regional_texts_do_not_reach_a_relative(
    regional_set: Bundle, regional_test: Dataset
) -> None:
    langs = list(regional_test.langs or [])
    with _serve(regional_set) as url:
        served = served_predictions(url, regional_test.texts)
    reached, regional = reached_relative(served, langs)
    assert regional == 7 * 40 and reached <= 0.10 * regional, f"{reached} of {regional} reached a relative's model"
    # each prediction says which model answered, and what detection found, how sure
    for p in served:
        assert p["lang"] in {*REGIONAL_RELATIVES, *REGIONAL_RELATIVES.values(), "und"}
        assert isinstance(p["detected_lang"], str) and 0.0 <= float(p["lang_confidence"]) <= 1.0  # type: ignore[arg-type]
        assert p["lang"] in (p["detected_lang"], "und")
    served_f1 = macro_f1(regional_test.labels, [str(p["label"]) for p in served])
    # the same model set, each text routed by its true language
    predictor = load_predictor(regional_set)
    routing = predictor.route(regional_test.texts, langs)
    proba = predictor.predict_proba(regional_test.texts, routing)
    true_f1 = macro_f1(regional_test.labels, [predictor.labels[i] for i in proba.argmax(axis=1)])
    assert abs(served_f1 - true_f1) <= 0.01, (served_f1, true_f1)
    # the figure training recorded (and printed) is the served one, exactly; the stated-lang one is beside it
    metrics = regional_set.manifest.metrics
    assert metrics["macro_f1"] == pytest.approx(served_f1, abs=1e-12)
    assert metrics["routed_by"] == "detection"
    assert metrics["routed_by_stated_lang"]["macro_f1"] == pytest.approx(true_f1, abs=1e-12)
    assert set(metrics["routing"]["per_language"]) == set(langs)


def test_evaluate_and_the_registry_give_the_served_figures(
    regional_set: Bundle, regional_test: Dataset, tmp_path: Path
) -> None:
    metrics = regional_set.manifest.metrics
    report = evaluate(regional_set.path, regional_test)
    assert report["macro_f1"] == metrics["macro_f1"] and report["routed_by"] == "detection"
    assert report["routed_by_stated_lang"] == metrics["routed_by_stated_lang"]
    assert report["routing"] == metrics["routing"]
    entry = open_registry(RegistrySettings(home=tmp_path)).register(regional_set.path, "regional")
    assert entry.metrics["macro_f1"] == metrics["macro_f1"]
    assert entry.metrics["routed_by_stated_lang"]["macro_f1"] == metrics["routed_by_stated_lang"]["macro_f1"]
    # a model set's fallback is the multilingual model: both strategies measured as served, with a verdict
    strategies = metrics["strategies"]
    assert strategies["per-language"] == metrics["macro_f1"] and strategies["on"] == "test"
    assert strategies["multilingual"] == metrics["sub_models"]["fallback"]["macro_f1"]


def test_a_stated_lang_reaches_its_model(regional_set: Bundle, regional_test: Dataset) -> None:
    friulian = [t for t, lang in zip(regional_test.texts, regional_test.langs or [], strict=True) if lang == "fur"][:5]
    with _serve(regional_set) as url:
        assert {p["lang"] for p in served_predictions(url, friulian, "fur")} == {"fur"}
        assert {p["lang"] for p in served_predictions(url, friulian, "srd")} == {"sc"}  # ISO 639-3 of Sardinian
        unknown = served_predictions(url, friulian, "xx")
    assert {(p["lang"], p["detected_lang"], p["lang_confidence"]) for p in unknown} == {("und", None, None)}


def _monitor(ref: str, home: Path) -> dict:  # type: ignore[type-arg]
    result = subprocess.run(
        [NLPOPS, "monitor", ref, "--json"], env=subprocess_env(home), capture_output=True, text=True, timeout=300
    )
    assert result.returncode in (0, 3), result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_serving_the_reference_texts_raises_no_language_drift(regional_set: Bundle, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**subprocess_env(home), "NLPOPS_MONITORING__FLUSH_INTERVAL_S": "0.2"}
    texts = list(regional_set.manifest.reference["texts"])
    assert len(texts) == 200
    with cli_server([str(regional_set.path)], env, tmp_path / "serve.log") as url:
        served_predictions(url, texts)
        deadline = time.monotonic() + 60
        while (report := _monitor(str(regional_set.path), home))["live_rows"] < len(texts):
            assert time.monotonic() < deadline, report
            time.sleep(0.3)
    (language,) = [c for c in report["checks"] if c["statistic"] == "language"]
    assert language["drifted"] is False and language["psi"] < 0.05, language
    assert report["status"] == "no_drift", report["drifted"]
    # like with like: the reference mix is the mix of the models that answer the reference texts
    reference = regional_set.manifest.reference["languages"]
    assert set(reference) <= {*regional_set.manifest.languages, "und"}


def _write(dataset: Dataset, path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label", "lang"])
        writer.writerows(zip(dataset.texts, dataset.labels, dataset.langs or [], strict=True))
    return path


def test_mixed_case_and_region_tagged_codes_train_one_model(tmp_path: Path) -> None:
    data = per_language_sample(read_dataset(bundled_dataset("sib200_regional", "train")), 60)
    keep = [i for i, lang in enumerate(data.langs or []) if lang in ("szl", "pl")]
    written = ["PL", "pl", "pl-PL", "szl", "SZL-pl"]  # one language written three ways, another two ways
    langs = [written[k % 3] if data.langs[i] == "pl" else written[3 + k % 2] for k, i in enumerate(keep)]  # type: ignore[index]
    mixed = Dataset([data.texts[i] for i in keep], [data.labels[i] for i in keep], langs)
    (tmp_path / "nlpops.yaml").write_text(FAST_YAML, encoding="utf-8")
    train = _write(mixed, tmp_path / "train.csv")
    result = subprocess.run(
        [NLPOPS, "train", "--data", str(train), "--strategy", "per-language", "--name", "codes", "--json"],
        cwd=tmp_path,
        env=subprocess_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["models"] == ["fallback", "pl", "szl"]  # one model per language, not one per spelling
    assert summary["language_codes"] == {"PL": "pl", "pl-PL": "pl", "SZL-pl": "szl"}
    assert 'the language codes PL, pl, pl-PL all name one language, "pl"' in result.stderr
    assert 'the language codes SZL-pl, szl all name one language, "szl"' in result.stderr
    assert "Traceback" not in result.stderr


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NLPOPS, *args], cwd=cwd, env=subprocess_env(cwd / "home"), capture_output=True, text=True, timeout=1800
    )


@pytest.mark.slow
def test_full_regional_set_serves_what_training_printed(tmp_path: Path) -> None:
    """The whole of sib200_regional: per-language models, served over HTTP with no lang in requests."""
    (tmp_path / "nlpops.yaml").write_text(FAST_YAML, encoding="utf-8")
    train, test = bundled_dataset("sib200_regional", "train"), bundled_dataset("sib200_regional", "test")
    args = ["train", "--data", str(train), "--test", str(test), "--strategy", "per-language", "--out", "set"]
    result = _run(*args, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["language_codes"] == {"srd": "sc"}
    bundle = load_predictor(tmp_path / "set").bundle
    data = read_dataset(test)
    langs = list(data.langs or [])
    with _serve(bundle) as url:
        served = served_predictions(url, data.texts)
    served_f1 = macro_f1(data.labels, [str(p["label"]) for p in served])
    reached, regional = reached_relative(served, langs)
    print(
        f"\nsib200_regional, per-language, served without lang: macro-F1 {served_f1:.4f}; routed by the true lang: "
        f"{summary['stated_lang_macro_f1']:.4f}; routing accuracy {summary['routing_accuracy']:.4f}; "
        f"{reached} of {regional} regional texts ({reached / regional:.1%}) reached a major relative's model"
    )
    assert summary["macro_f1"] == pytest.approx(served_f1, abs=1e-12)  # what train prints is what is served
    assert reached <= 0.10 * regional
    assert abs(served_f1 - summary["stated_lang_macro_f1"]) <= 0.01


@pytest.mark.slow
def test_compare_languages_recommends_what_serves_better_and_auto_picks_it(tmp_path: Path) -> None:
    (tmp_path / "nlpops.yaml").write_text(FAST_YAML, encoding="utf-8")
    train, test = bundled_dataset("sib200_regional", "train"), bundled_dataset("sib200_regional", "test")
    compared = _run("compare-languages", str(train), "--test", str(test), "--json", cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    report = json.loads(compared.stdout)
    recommendation = report["recommendation"]
    per_language, multilingual = report["strategies"]
    assert recommendation["per-language"] == per_language["macro_f1"]  # as served: routed by detection
    assert recommendation["multilingual"] == multilingual["macro_f1"]
    better = "per-language" if per_language["macro_f1"] > multilingual["macro_f1"] else "multilingual"
    assert recommendation["strategy"] == better or abs(per_language["macro_f1"] - multilingual["macro_f1"]) < 0.005
    assert set(report["routing_accuracy_per_language"]) == set(report["languages"])
    auto = _run("train", "--data", str(train), "--test", str(test), "--strategy", "auto", "--json", cwd=tmp_path)
    assert auto.returncode == 0, auto.stderr
    summary = json.loads(auto.stdout)
    print(
        f"\ncompare-languages on sib200_regional: per-language {per_language['macro_f1']:.4f} (routed by the stated "
        f"lang {per_language['stated_lang_macro_f1']:.4f}), multilingual {multilingual['macro_f1']:.4f}, routing "
        f"accuracy {report['routing_accuracy']:.4f}: recommends {recommendation['strategy']}; --strategy auto "
        f"measured {summary['strategy_choice']} and picked {summary['strategy_choice']['strategy']}"
    )
    assert summary["strategy_choice"]["strategy"] == recommendation["strategy"]
    assert summary["runtime"] == ("router" if recommendation["strategy"] == "per-language" else "sklearn")


def test_the_advisor_reads_the_sets_measured_strategy_figures(regional_set: Bundle) -> None:
    """What the model set measured (per-language vs its multilingual fallback, as served) reaches the advisor's
    fact and moves the topology, through a real profile of the bundle."""
    from nlpops.advisor import load_rules, make_plan
    from nlpops.advisor.facts import build_facts
    from nlpops.advisor.plan import checklist_answers
    from nlpops.checklist import NlpopsConfig
    from nlpops.profile import profile_bundle

    profile = profile_bundle(
        regional_set.path,
        runtimes=("native-cpu",),
        languages=False,
        threads=1,
        budget_s=0.3,
        batch_sizes=(1, 8),
        repeats=2,
    )
    measured = regional_set.manifest.metrics["strategies"]
    assert profile["bundle"]["strategy_figures"] == measured
    config = NlpopsConfig.model_validate({"languages": {"languages": regional_set.manifest.languages}})
    rules = load_rules()
    facts = build_facts(checklist_answers(config), profile, rules)
    gain = measured["per-language"] - measured["multilingual"]
    assert facts["languages.per_language_gain"] == pytest.approx(gain)
    topology = json.dumps(make_plan(config, profile, rules)["dimensions"]["topology"])
    assert "topology-measured-gain" in topology and f"{gain:+.3f} macro-F1" in topology
