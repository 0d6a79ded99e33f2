"""Monitoring over the real service: native hooks over uvicorn on 127.0.0.1 (port 0), and the real
``nlpops serve`` (monitoring on by default): drift, PII, promtool on /metrics, the status page in Chromium."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.data import bundled_dataset, read_dataset
from nlpops.monitor import LiveStats, PiiRedactor, StatsStore, monitor_hooks, save_monitoring_files
from nlpops.serve import ServiceApp, build_app, bundle_source

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_support import clean_env, cli_server, live_server


def _service(bundle: Bundle, live: LiveStats) -> ServiceApp:
    hooks = monitor_hooks(live, refresh_interval_s=0.2)
    return build_app(bundle_source(bundle.path), ServingSettings(), MonitoringSettings(), follow=False, hooks=hooks)


def _send(url: str, texts: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for start in range(0, len(texts), 20):
            response = client.post("/v1/classify", json={"texts": texts[start : start + 20]})
            assert response.status_code == 200, response.text


@pytest.mark.parametrize(("dataset", "expected"), [("same_distribution", "no_drift"), ("other_distribution", "drift")])
def test_service_reports_drift(
    spam_bundle: Bundle, dataset: str, expected: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    texts = request.getfixturevalue(dataset)
    with live_server(_service(spam_bundle, LiveStats(StatsStore(tmp_path / "m.db")))) as url:
        _send(url, texts)
        status = httpx.get(url + "/v1/status", timeout=30).json()
        metrics = httpx.get(url + "/metrics", timeout=30).text
    assert status["drift"]["status"] == expected, status["drift"]
    # The model has a word vocabulary, so the share of unknown words is compared too. Banking questions are
    # everyday English: an SMS model knows their words about as well as those of unseen SMS (12% vs 11%).
    (oov,) = [c for c in status["drift"]["checks"] if c["statistic"] == "oov" and c["lang"] == "*"]
    assert oov["drifted"] is False, oov
    assert status["traffic"]["texts_in_window"] == len(texts)
    assert status["model"] == "spam" and status["latency_ms"]["p95"] is not None
    assert 'nlpops_drift_detected{lang="*",model="spam"' in metrics


def test_service_reports_vocabulary_drift(spam_bundle: Bundle, tmp_path: Path) -> None:
    # French and German sentences sent to an English SMS model: most of their words are unknown to it.
    sib = read_dataset(bundled_dataset("sib200", "test"))
    texts = [text for text, lang in zip(sib.texts, sib.langs or [], strict=True) if lang in ("fr", "de")][:300]
    with live_server(_service(spam_bundle, LiveStats(StatsStore(tmp_path / "m.db")))) as url:
        _send(url, texts)
        status = httpx.get(url + "/v1/status", timeout=30).json()
        metrics = httpx.get(url + "/metrics", timeout=30).text
    (oov,) = [c for c in status["drift"]["checks"] if c["statistic"] == "oov" and c["lang"] == "*"]
    assert oov["drifted"] is True and oov["psi"] > 0.5, oov
    assert 'nlpops_drift_detected{lang="*",model="spam",statistic="oov",version=' in metrics


def test_service_pii_never_stored(spam_bundle: Bundle, tmp_path: Path) -> None:
    store = StatsStore(tmp_path / "m.db")
    live = LiveStats(store, redactor=PiiRedactor(), store_texts=True)
    secrets = ["jane.doe@example.com", "+44 20 7946 0958", "4111 1111 1111 1111", "GB82 WEST 1234 5698 7654 32"]
    texts = [f"please contact me at {s} about my card" for s in secrets]
    with live_server(_service(spam_bundle, live)) as url:
        _send(url, texts)
    stored = store.load_texts()
    assert len(stored) == len(texts)
    raw = (tmp_path / "m.db").read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob("m.db-*"))
    for secret in secrets:
        assert all(secret not in record.text for record in stored)
        assert secret.encode() not in raw


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (apt-get install -y prometheus)")
    return path


def test_rules_pass_promtool(tmp_path: Path) -> None:
    promtool = _promtool()
    rules, dashboard = save_monitoring_files(tmp_path, p95_ms=150, max_queue=100)
    result = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 rules found" in result.stdout
    assert "nlpops_http_request_duration_seconds_bucket" in dashboard.read_text()


SECRET = "jane.doe@example.com"


@pytest.fixture(scope="module")
def served(spam_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """The real ``nlpops serve`` of the spam model with monitoring (default), payload logs and redaction on."""
    folder = tmp_path_factory.mktemp("served")
    env = clean_env(
        NLPOPS_HOME=str(folder / "home"),
        NLPOPS_MONITORING__FLUSH_INTERVAL_S="0.2",
        NLPOPS_MONITORING__LOG_PAYLOADS="true",
        NLPOPS_MONITORING__PII_REDACTION="true",
        NLPOPS_MONITORING__STORE_TEXTS="true",
    )
    log = folder / "serve.log"
    with cli_server([str(spam_bundle.path)], env, log, cwd=folder) as url:
        yield url, log, folder / "home" / "monitor.db"


def test_cli_serve_metrics_with_drift_gauges_pass_promtool(
    served: tuple[str, Path, Path], same_distribution: list[str]
) -> None:
    promtool = _promtool()
    url, _, _ = served
    _send(url, same_distribution[:120])
    httpx.get(url + "/v1/status", timeout=30)  # computes drift now (and the background refresh does too)
    text = httpx.get(url + "/metrics", timeout=30).text
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'nlpops_drift_psi{lang="*",model="spam"' in text and "nlpops_drift_live_rows" in text


def test_cli_serve_logs_and_stores_only_redacted_payloads(served: tuple[str, Path, Path], spam_bundle: Bundle) -> None:
    url, log, stats = served
    _send(url, [f"please write to {SECRET} about my prize"])
    store = StatsStore(stats)
    deadline = time.monotonic() + 30
    while not any("<EMAIL>" in record.text for record in (store.load_texts() if stats.exists() else [])):
        assert time.monotonic() < deadline, "the live statistics were not flushed"
        time.sleep(0.1)
    assert "please write to <EMAIL> about my prize" in log.read_text(errors="replace")
    assert SECRET not in log.read_text(errors="replace")
    assert all(SECRET.encode() not in path.read_bytes() for path in stats.parent.glob("monitor.db*"))
    status = httpx.get(url + "/v1/status", timeout=30).json()
    assert (status["model"], status["version"]) == ("spam", spam_bundle.manifest.version)


def test_cli_serve_status_page_in_headless_browser(
    served: tuple[str, Path, Path], spam_bundle: Bundle, same_distribution: list[str]
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    url, _, _ = served
    _send(url, same_distribution[:40])
    before = httpx.get(url + "/v1/status", timeout=30).json()["traffic"]["classify_requests"]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(url + "/")
            page.wait_for_function("document.getElementById('model').textContent === 'spam'")
            assert page.text_content("#version") == spam_bundle.manifest.version
            assert page.text_content("#requests") == str(before)
            assert "ham" in page.inner_text("#labels"), page.inner_html("#labels")
            page.fill("#try-text", "WINNER!! You have won a free prize, call now to claim")
            page.click("#try-button")
            page.wait_for_function("document.getElementById('try-result').textContent.includes('%')")
            assert (page.text_content("#try-result") or "").startswith("spam")
            page.wait_for_function(f"document.getElementById('requests').textContent === '{before + 1}'")
            assert page.text_content("#error") == ""
        finally:
            browser.close()
