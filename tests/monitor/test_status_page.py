"""The status page (``GET /``) in headless Chromium at 1280×800: self-contained (no CDN), the model name and the
charts of the last hour above the fold, top labels with the rest folded, and clear wording for an API key."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, NlpopsConfig, ServingSettings
from nlpops.data import bundled_dataset, read_dataset
from nlpops.families import build_bundle
from nlpops.monitor import LiveStats, monitor_hooks
from nlpops.monitor.service import status_page
from nlpops.serve import build_app, bundle_source
from nlpops.testing import tiny_tfidf_bundle

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_support import live_server

VIEWPORT = {"width": 1280, "height": 800}
CHARTS = ("#chart-requests", "#chart-latency", "#chart-drift")
KEY = "status-page-key"


@pytest.fixture(scope="module")
def intents_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """TF-IDF on a fifth of banking77 (all 77 intents): the model whose label table overflowed."""
    train = read_dataset(bundled_dataset("banking77", "train"))
    test = read_dataset(bundled_dataset("banking77", "test"))
    config = NlpopsConfig.model_validate({"name": "intents", "model": {"tfidf": {"char_ngrams": False}}})
    out = tmp_path_factory.mktemp("intents") / "bundle"
    reference = test.subset(range(0, len(test.texts), 10))  # the test split is sorted by intent: every 10th row
    return build_bundle(config, train.subset(range(0, len(train.texts), 5)), reference, out)


def _service(bundle: Bundle, **serving: Any) -> Any:
    hooks = monitor_hooks(LiveStats(None), refresh_interval_s=0.2)
    settings = ServingSettings.model_validate(serving)
    return build_app(bundle_source(bundle.path), settings, MonitoringSettings(), follow=False, hooks=hooks)


@contextmanager
def _browser(url: str, problems: list[str]) -> Iterator[Any]:
    """A 1280×800 page in headless Chromium that may reach ``url`` only: console errors and warnings, page
    errors, failed requests and every request elsewhere end up in ``problems``."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no chromium installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

    def only_the_service(route: Any) -> None:
        if route.request.url.startswith(url):
            route.continue_()
        else:
            problems.append("request outside the service: " + route.request.url)
            route.abort()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.route("**/*", only_the_service)
            page.on(
                "console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append("request failed: " + r.url))
            yield page
        finally:
            browser.close()


def _above_the_fold(page: Any, selector: str) -> dict[str, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not rendered"
    assert box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"], (selector, box)
    assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"], (selector, box)
    return dict(box)


def test_status_page_is_one_self_contained_document() -> None:
    html = status_page().decode("utf-8")
    assert "/*uPlot" not in html  # both vendored files were inlined
    assert "https://github.com/leeoniya/uPlot (v1.6.32)" in html and ".uplot" in html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)  # nothing fetched from elsewhere
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", html)


def test_status_page_at_1280x800_shows_model_and_charts_above_the_fold(intents_bundle: Bundle, tmp_path: Path) -> None:
    texts = read_dataset(bundled_dataset("banking77", "test")).texts[5::8]  # all intents; not the reference
    problems: list[str] = []
    with live_server(_service(intents_bundle)) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            for start in range(0, len(texts), 20):
                assert client.post("/v1/classify", json={"texts": texts[start : start + 20]}).status_code == 200
            status = client.get("/v1/status").json()
        with _browser(url, problems) as page:
            page.goto(url + "/")
            page.wait_for_function("document.getElementById('model').textContent === 'intents'")
            # the charts got the history of the last hour (the minute of the requests above)
            page.wait_for_function("charts['chart-requests'].data[0].length >= 1")
            requests_per_s = page.evaluate("charts['chart-requests'].data[1]")
            assert max(requests_per_s) > 0, requests_per_s
            assert page.evaluate("charts['chart-latency'].series.map(s => s.label).slice(1)") == ["p50", "p95", "p99"]
            assert page.evaluate("charts['chart-drift'].data[1].some(v => v !== null)")
            page.screenshot(path=str(tmp_path / "status.png"))
            model = _above_the_fold(page, "#model")
            for chart in CHARTS:
                canvas = _above_the_fold(page, f"{chart} canvas")
                assert canvas["width"] > 250 and canvas["height"] > 100 and canvas["y"] > model["y"], (chart, canvas)
            # 77 intents: the top 8 shown, the rest folded, each count inside its card
            shown = page.locator("#labels tr").count()
            predicted = len([n for n in status["label_counts"].values() if n > 0])
            assert predicted > 20 and shown == 8
            assert page.is_visible("#labels-more summary") and not page.is_visible("#labels-rest")
            assert (
                page.text_content("#labels-more summary")
                == f"{predicted - 8} more ({sum(sorted(status['label_counts'].values(), reverse=True)[8:])})"
            )
            card = page.locator("#labels").bounding_box()
            for cell in page.locator("#labels td.num").all():
                box = cell.bounding_box()
                assert box is not None and card is not None and box["x"] + box["width"] <= card["x"] + card["width"] + 1
            assert page.evaluate(
                "[...document.querySelectorAll('#labels td.num')].every(c => c.scrollWidth <= c.clientWidth)"
            )
            page.click("#labels-more summary")
            assert page.locator("#labels-rest tr").count() == predicted - 8
            assert page.text_content("#error") == ""
    assert (tmp_path / "status.png").stat().st_size > 10_000
    assert problems == []


def test_status_page_says_when_an_api_key_is_needed(tmp_path: Path) -> None:
    bundle = tiny_tfidf_bundle(tmp_path / "tiny")
    problems: list[str] = []
    with live_server(_service(bundle, api_keys=[KEY])) as url, _browser(url, problems) as page:
        page.goto(url + "/")
        page.wait_for_function("document.getElementById('error').textContent !== ''")
        assert "needs an API key" in (page.text_content("#error") or "")
        assert "API key" in (page.text_content("header") or "")
        page.fill("#api-key", "wrong")
        page.dispatch_event("#api-key", "change")
        page.wait_for_function("document.getElementById('error').textContent.includes('not accepted')")
        page.fill("#api-key", KEY)
        page.dispatch_event("#api-key", "change")
        page.wait_for_function("document.getElementById('model').textContent === 'tiny'")
        assert page.text_content("#error") == ""
        _above_the_fold(page, "#api-key")
    # the browser reports each refused request; nothing else went wrong
    assert problems and all("401" in p for p in problems), problems
