"""Training strategies: multilingual gives one bundle, per-language and auto give model sets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from language_support import fast_config, per_language_sample

from nlpops.data import bundled_dataset, read_dataset
from nlpops.errors import ConfigError, DataError
from nlpops.languages import build_model_set, plan_languages, recommend_strategy, sub_bundle_paths, train_by_language
from nlpops.runtimes import load_predictor


@pytest.fixture(scope="module")
def uneven():
    data = read_dataset(bundled_dataset("sib200", "train"))
    big = per_language_sample(data.subset([i for i, x in enumerate(data.langs or []) if x in {"de", "en"}]), 100)
    small = per_language_sample(data.subset([i for i, x in enumerate(data.langs or []) if x in {"fr", "es"}]), 30)
    return big.concat(small)


def test_plan_auto_gives_own_models_to_big_languages(uneven) -> None:
    plan = plan_languages(uneven, "auto", 50)
    assert plan.own == ["de", "en"]
    assert plan.shared == ["es", "fr"]
    assert plan_languages(uneven, "per-language", 50).own == ["de", "en", "es", "fr"]
    assert plan_languages(uneven, "multilingual", 50).own == []
    assert plan_languages(uneven, "auto", 1000).own == []
    with pytest.raises(ConfigError, match="Unknown language strategy"):
        plan_languages(uneven, "sometimes", 50)


def test_train_auto_measures_both_strategies_and_trains_the_better_one(uneven, tmp_path: Path) -> None:
    config = fast_config(languages={"min_examples_per_language": 50})
    bundle = train_by_language(config, uneven, None, tmp_path / "auto", "topics", "auto")
    choice = bundle.manifest.metrics["strategy_choice"]
    assert choice["on"] == "held-out training rows" and choice["rows"] > 0
    assert choice["strategy"] == recommend_strategy(choice["per-language"], choice["multilingual"])["strategy"]
    assert bundle.manifest.runtime == ("router" if choice["strategy"] == "per-language" else "sklearn")
    assert bundle.manifest.languages == ["de", "en", "es", "fr"]
    if choice["strategy"] == "per-language":  # the plan: own models for the big languages only
        assert sorted(sub_bundle_paths(bundle)) == ["de", "en", "fallback"]


def test_a_language_without_its_own_model_is_answered_by_the_fallback(uneven, tmp_path: Path) -> None:
    bundle = build_model_set(fast_config(), uneven, None, tmp_path / "set", languages=["de", "en"], name="topics")
    assert bundle.manifest.languages == ["de", "en", "es", "fr"]
    predictor = load_predictor(bundle)
    # French has no model of its own: detected as French, answered by the fallback (lang und)
    routing = predictor.route(["Le chien dort dans le jardin depuis ce matin."])
    assert routing is not None and routing.langs == ("und",) and routing.detected == ("fr",)
    # and a request that states French reaches the fallback too
    stated = predictor.route(["Le chien dort dans le jardin depuis ce matin."], "fr-FR")
    assert stated is not None and stated.langs == ("und",)


def test_train_multilingual_builds_one_plain_bundle(uneven, tmp_path: Path) -> None:
    bundle = train_by_language(fast_config(), uneven, None, tmp_path / "multi", "topics", "multilingual")
    assert bundle.manifest.runtime == "sklearn"
    assert bundle.manifest.languages == ["de", "en", "es", "fr"]


def test_train_detects_languages_when_the_data_has_no_column(uneven, tmp_path: Path) -> None:
    no_column = replace(uneven, langs=None)
    config = fast_config(languages={"languages": ["de", "en", "es", "fr"]})
    bundle = train_by_language(config, no_column, None, tmp_path / "detected", "topics", "per-language")
    assert sorted(sub_bundle_paths(bundle)) == ["de", "en", "es", "fallback", "fr"]
    assert bundle.manifest.data is not None
    assert bundle.manifest.data.languages["de"] >= 95


def test_undetectable_declared_languages_without_a_column_name_the_language(uneven, tmp_path: Path) -> None:
    config = fast_config(languages={"languages": ["it", "fur"]})
    with pytest.raises(DataError) as caught:
        train_by_language(config, replace(uneven, langs=None), None, tmp_path / "x", "topics", "per-language")
    message = caught.value.message
    assert "py3langid does not know fur" in message and "Add a lang column" in message
    assert not (tmp_path / "x").exists()
