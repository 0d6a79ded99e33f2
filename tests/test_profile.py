"""nlpops profile: figures are measured in a fresh process, and a bigger model measures bigger."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nlpops.bundle import Bundle
from nlpops.checklist import NlpopsConfig, RegistrySettings
from nlpops.data import Dataset, bundled_dataset, read_dataset
from nlpops.errors import PlanError
from nlpops.families import build_bundle
from nlpops.profile import load_profile, profile_bundle, save_profile
from nlpops.profile.footprint import measure_footprint


@pytest.fixture(scope="module")
def banking_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A TF-IDF model on 1000 banking77 rows (77 labels, a far bigger vocabulary than the tiny model)."""
    train = read_dataset(bundled_dataset("banking77", "train"))
    subset = Dataset(train.texts[:1000], train.labels[:1000], source="banking77[:1000]")
    config = NlpopsConfig.model_validate(
        {"model": {"tfidf": {"max_iter": 100, "word_ngram_max": 3, "char_ngram_max": 5}}}
    )
    return build_bundle(config, subset, None, tmp_path_factory.mktemp("b77") / "bundle", name="banking")


@pytest.mark.slow
def test_profile_bigger_bundle_measures_bigger(tiny_bundle: Bundle, banking_bundle: Bundle) -> None:
    small = profile_bundle(tiny_bundle.path, budget_s=2.0)
    big = profile_bundle(banking_bundle.path, budget_s=2.0)
    assert big["size_bytes"] > 10 * small["size_bytes"]
    assert big["model_rss_bytes"] > small["model_rss_bytes"]
    assert big["latency_ms"]["p50"] > small["latency_ms"]["p50"]
    big_tp = {r["batch_size"]: r["texts_per_s"] for r in big["throughput"]}
    small_tp = {r["batch_size"]: r["texts_per_s"] for r in small["throughput"]}
    assert big_tp[128] < small_tp[128]


def test_profile_reports_every_figure(tiny_bundle: Bundle, tmp_path: Path) -> None:
    profile = profile_bundle(tiny_bundle.path, budget_s=0.5, batch_sizes=(1, 8))
    assert profile["bundle"]["family"] == "tfidf"
    assert profile["size_bytes"] == tiny_bundle.size_bytes
    assert profile["cold_start_s"] >= profile["load_s"] > 0
    assert profile["peak_rss_bytes"] >= profile["rss_after_load_bytes"] > 0
    lat = profile["latency_ms"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert [r["batch_size"] for r in profile["throughput"]] == [1, 8]
    assert profile["footprint"]["runtime"]["packages"]["scikit-learn"] > 0
    assert profile["gpu"]["used"] is False
    path = save_profile(profile, tmp_path / "p.json")
    assert load_profile(path) == profile


def test_profile_footprint_includes_dependencies() -> None:
    sklearn = measure_footprint(["scikit-learn"])
    assert {"scikit-learn", "numpy", "scipy"} <= set(sklearn["packages"])
    assert sklearn["bytes"] == sum(sklearn["packages"].values())
    assert measure_footprint(["no-such-package-xyz"])["missing"] == ["no-such-package-xyz"]


def test_profile_saved_beside_registry_entry(tiny_bundle: Bundle, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nlpops.cli import build_app
    from nlpops.registry import open_registry

    registry = open_registry(RegistrySettings(home=Path(os.environ["NLPOPS_HOME"])))  # the per-test home
    entry = registry.register(tiny_bundle.path, name="tiny")
    result = CliRunner().invoke(build_app(), ["profile", f"tiny:{entry.version}", "--budget-s", "0.5", "--json"])
    assert result.exit_code == 0, result.output
    saved = registry.load_attachment("tiny", entry.version, "profile")
    assert saved is not None and saved["bundle"]["name"] == "tiny"


def test_profile_bad_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="does not exist"):
        load_profile(tmp_path / "missing.json")
    (tmp_path / "old.json").write_text('{"schema_version": 99}', encoding="utf-8")
    with pytest.raises(PlanError, match="schema version"):
        load_profile(tmp_path / "old.json")
