"""Drift of an embedding model's vectors: the distance of the live mean from the reference mean, tested with
Hotelling's two-sample T² on a fixed random projection. Its false-alarm rate is measured on windows drawn from the
reference distribution (it is the p-value threshold), its power on another language and another domain; the
verdicts reach /v1/status and the Prometheus gauges like every other check."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.data import Dataset, bundled_dataset, read_dataset
from nlpops.monitor import DriftThresholds, LiveStats, StatsStore, monitor_hooks
from nlpops.monitor.drift import StatisticDrift, compare_statistics
from nlpops.monitor.mean_shift import hotelling_two_sample
from nlpops.reference import embedding_counts, projection, reference_statistics
from nlpops.runtimes import load_predictor
from nlpops.serve import Observation, build_app, bundle_source
from nlpops.testing import tiny_embedding_bundle

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_support import live_server

TRIALS = 1000
REFERENCE_ROWS = 500
LIVE_ROWS = 200


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return tiny_embedding_bundle(tmp_path_factory.mktemp("emb") / "bundle", name="emb")


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    from nlpops.api import train
    from nlpops.checklist import NlpopsConfig

    config = NlpopsConfig.model_validate({"name": "emb", "model": {"task": "embedding"}})
    return train(None, config=config, out=tmp_path_factory.mktemp("minilm") / "bundle").bundle


def _banking(n: int, split: str = "train") -> list[str]:
    """``n`` banking77 texts drawn at random (the files are sorted by intent)."""
    texts = read_dataset(bundled_dataset("banking77", split)).texts
    return [texts[i] for i in np.random.default_rng(n).choice(len(texts), n, replace=False)]


def _sib200(lang: str) -> list[str]:
    sib = read_dataset(bundled_dataset("sib200", "test"))
    return [text for text, text_lang in zip(sib.texts, sib.langs or [], strict=True) if text_lang == lang]


def _check(reference: np.ndarray, live: np.ndarray, thresholds: DriftThresholds) -> StatisticDrift:
    """The embedding_mean check of two sets of vectors, through the counters a bundle and a live window keep."""

    def stats(vectors: np.ndarray) -> dict[str, object]:
        return reference_statistics(["x"] * len(vectors), vectors, [], task="embedding")

    checks = compare_statistics(stats(reference), stats(live), thresholds, task="embedding")
    (check,) = [c for c in checks if c.statistic == "embedding_mean"]
    return check


@pytest.mark.parametrize("encoder", ["tiny", pytest.param("minilm", marks=pytest.mark.slow)])
def test_embedding_drift_false_alarm_rate_is_the_p_value_threshold(
    encoder: str, request: pytest.FixtureRequest
) -> None:
    """Reference and live windows drawn independently from one distribution (bootstrap draws from 1500 banking77
    texts): the share of windows whose p-value falls below a threshold is that threshold, within sampling error."""
    predictor = load_predictor(request.getfixturevalue(encoder).path)
    pool = predictor.embed(_banking(1500))
    rng = np.random.default_rng(20240611)
    thresholds = DriftThresholds()  # psi 0.2, p-value 0.01, 100 rows
    p_values, verdicts = [], []
    for _ in range(TRIALS):
        reference = pool[rng.integers(0, len(pool), REFERENCE_ROWS)]
        live = pool[rng.integers(0, len(pool), LIVE_ROWS)]
        check = _check(reference, live, thresholds)
        p_values.append(check.p_value)
        verdicts.append(check.drifted)
    p = np.asarray(p_values)
    for alpha in (0.01, 0.05, 0.1):
        sigma = np.sqrt(alpha * (1 - alpha) / TRIALS)
        assert abs(float((p < alpha).mean()) - alpha) <= 3.5 * sigma, (alpha, float((p < alpha).mean()))
    assert np.mean(verdicts) <= thresholds.p_value  # the verdict also needs a large shift: rarer still


@pytest.mark.parametrize("encoder", ["tiny", pytest.param("minilm", marks=pytest.mark.slow)])
def test_embedding_drift_detects_another_intent_mix_language_and_domain(
    encoder: str, request: pytest.FixtureRequest
) -> None:
    predictor = load_predictor(request.getfixturevalue(encoder).path)
    pool = predictor.embed(_banking(1500))
    shifted = {
        "four intents": predictor.embed(read_dataset(bundled_dataset("banking77", "train")).texts[:500]),
        "German": predictor.embed(_sib200("de")),
        "English news": predictor.embed(_sib200("en")),
        "SMS": predictor.embed(read_dataset(bundled_dataset("sms_spam", "test")).texts[:300]),
    }
    rng = np.random.default_rng(7)
    for name, vectors in shifted.items():
        for _ in range(10):
            reference = pool[rng.integers(0, len(pool), REFERENCE_ROWS)]
            check = _check(reference, vectors[rng.integers(0, len(vectors), LIVE_ROWS)], DriftThresholds())
            assert check.drifted and check.p_value < 1e-6, (name, check)


def test_embedding_live_counters_equal_the_reference_counters(tiny: Bundle) -> None:
    predictor = load_predictor(tiny.path)
    texts = _banking(40) + _sib200("de")[:30]
    langs = ["en"] * 40 + ["de"] * 30
    vectors = predictor.embed(texts)
    live = LiveStats(None)
    for start in range(0, len(texts), 7):  # requests of 7 texts, each text with its language
        part = slice(start, start + 7)
        observation = Observation(texts[part], vectors[part], [], langs[part], "emb", "1", "embedding")
        live.observe(observation)
    snapshot = live.snapshot("emb", "1", window_s=3600)
    reference = reference_statistics(texts, vectors, [], langs, task="embedding")
    for scope_live, scope_ref in [
        (snapshot, reference),
        *((snapshot["by_language"][x], reference["by_language"][x]) for x in ("en", "de")),
    ]:
        assert scope_live["rows"] == scope_ref["rows"]
        for key in ("sum", "outer"):
            assert np.allclose(scope_live["embedding"][key], scope_ref["embedding"][key], atol=1e-9)
    checks = compare_statistics(reference, snapshot, DriftThresholds(), task="embedding")
    (mean,) = [c for c in checks if c.statistic == "embedding_mean"]
    assert mean.p_value > 0.999 and mean.psi == 0.0 and not mean.drifted  # the same vectors: no shift at all


def test_embedding_projection_is_fixed_and_the_test_needs_enough_rows() -> None:
    basis = projection(384)
    assert basis.shape == (384, 16) and set(np.unique(basis).tolist()) == {-0.25, 0.25}
    # pinned: references recorded by earlier versions must stay comparable with live counts
    assert (basis[:2, :8] > 0).astype(int).tolist() == [[1, 1, 0, 1, 0, 0, 0, 1], [1, 1, 0, 0, 0, 1, 0, 0]]
    vectors = np.random.default_rng(0).standard_normal((20, 384))
    counts = embedding_counts(vectors)
    assert len(counts["sum"]) == 16 and len(counts["outer"]) == 256
    assert hotelling_two_sample(2, counts["sum"], counts["outer"], 3, counts["sum"], counts["outer"]) is None
    assert hotelling_two_sample(20, counts["sum"], counts["outer"], 20, counts["sum"][:8], counts["outer"]) is None
    same = hotelling_two_sample(20, counts["sum"], counts["outer"], 20, counts["sum"], counts["outer"])
    assert same is not None and same.distance == 0.0 and same.p_value == pytest.approx(1.0)


def _serve_and_send(bundle: Bundle, texts: list[str], store: Path) -> tuple[dict[str, object], str]:
    hooks = monitor_hooks(LiveStats(StatsStore(store)), refresh_interval_s=0.2)
    app = build_app(bundle_source(bundle.path), ServingSettings(), MonitoringSettings(), follow=False, hooks=hooks)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        for start in range(0, len(texts), 25):
            response = client.post("/v1/embed", json={"texts": texts[start : start + 25], "encoding": "base64"})
            assert response.status_code == 200, response.text
        status = client.get("/v1/status").json()
        deadline = time.monotonic() + 30
        metrics = client.get("/metrics").text
        while 'statistic="embedding_mean"' not in metrics and time.monotonic() < deadline:
            time.sleep(0.2)
            metrics = client.get("/metrics").text
    return status, metrics


def _reference_bundle(folder: Path, texts: list[str]) -> Bundle:
    data = Dataset(texts, [], source="<banking77>", task="embedding")
    return tiny_embedding_bundle(folder / "bundle", name="emb", texts=data)


@pytest.mark.parametrize(("traffic", "expected"), [("banking77", "no_drift"), ("German", "drift")])
def test_embedding_drift_reaches_the_status_and_prometheus(traffic: str, expected: str, tmp_path: Path) -> None:
    bundle = _reference_bundle(tmp_path, _banking(REFERENCE_ROWS))
    texts = _banking(300, "test") if traffic == "banking77" else _sib200("de")[:200]
    status, metrics = _serve_and_send(bundle, texts, tmp_path / "monitor.db")
    drift = status["drift"]
    assert isinstance(drift, dict) and drift["status"] == expected, drift
    (mean,) = [c for c in drift["checks"] if c["statistic"] == "embedding_mean" and c["lang"] == "*"]
    assert mean["test"] == "hotelling_t2" and mean["live_rows"] == len(texts) and mean["reference_rows"] == 500
    assert mean["drifted"] is (expected == "drift")
    gauge = (
        f'nlpops_drift_detected{{lang="*",model="emb",statistic="embedding_mean",version="{bundle.manifest.version}"}}'
    )
    assert f"{gauge} {1.0 if expected == 'drift' else 0.0}" in metrics
    assert 'nlpops_drift_p_value{lang="*",model="emb",statistic="embedding_mean"' in metrics
