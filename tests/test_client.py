"""nlpops.Client and nlpops.AsyncClient against a real service (bursts that overflow its queue), and the
retry policy against a scripted transport (the outside world, passed in)."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

import nlpops
from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.errors import AuthError, NlpopsError, OverloadedError, RequestError, ServingError
from nlpops.serve import build_app, bundle_source
from nlpops.testing.serving import live_server

BURST = 96
TEXTS = ["my card has not arrived yet", "what is the exchange rate", "I lost my card", "refund please"]


def _small_queue_app(bundle: Bundle) -> object:
    # one text per batch and room for two: a burst of single-text requests overflows the queue at once
    serving = ServingSettings.model_validate({"max_queue": 2, "max_batch_size": 1, "max_wait_ms": 0})
    return build_app(bundle_source(bundle.path), serving, MonitoringSettings(metrics=False), follow=False)


def _rejected(url: str) -> int:
    metrics = httpx.get(f"{url}/metrics").text
    found = re.search(r'nlpops_http_requests_total\{route="/v1/classify",status="503"\} (\d+)', metrics)
    return int(found.group(1)) if found else 0


async def _burst(url: str, **options: object) -> list[object]:
    async with nlpops.AsyncClient(url, **options) as client:  # type: ignore[arg-type]
        calls = (client.classify(TEXTS[i % len(TEXTS)]) for i in range(BURST))
        return await asyncio.gather(*calls, return_exceptions=True)


@pytest.mark.slow
def test_async_client_burst_over_a_full_queue_completes_by_honouring_retry_after(tiny_bundle: Bundle) -> None:
    with live_server(_small_queue_app(tiny_bundle)) as url:  # type: ignore[arg-type]
        without_retries = asyncio.run(_burst(url, max_attempts=1))
        rejected_once = _rejected(url)
        answers = asyncio.run(_burst(url))
        rejected_in_all = _rejected(url)
    # the burst does overflow the queue: without retries some requests fail with 503 ...
    assert any(isinstance(a, OverloadedError) for a in without_retries) and rejected_once > 0
    # ... with them every request is answered, after the service said 503 to some
    assert [a for a in answers if isinstance(a, BaseException)] == []
    assert rejected_in_all > rejected_once
    assert all(len(a["predictions"]) == 1 for a in answers)  # type: ignore[index]


@pytest.mark.slow
def test_client_shared_by_threads_completes_a_burst_over_a_full_queue(tiny_bundle: Bundle) -> None:
    with live_server(_small_queue_app(tiny_bundle)) as url, nlpops.Client(url) as client:  # type: ignore[arg-type]
        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(lambda i: client.classify([TEXTS[i % len(TEXTS)]]), range(BURST)))
        assert len(answers) == BURST and _rejected(url) > 0
        assert client.health() and client.ready()
        assert [m["name"] for m in client.models()] == ["tiny"]


def test_client_reports_wrong_key_and_bad_request_without_retrying(tiny_bundle: Bundle) -> None:
    serving = ServingSettings.model_validate({"api_keys": ["k1"]})
    app = build_app(bundle_source(tiny_bundle.path), serving, MonitoringSettings(metrics=False), follow=False)
    with live_server(app) as url:
        with nlpops.Client(url, api_key="wrong") as client, pytest.raises(AuthError, match="API key"):
            client.classify("my card")
        with nlpops.Client(url, api_key="k1") as client:
            with pytest.raises(RequestError, match="empty") as bad:
                client.classify([""])
            assert bad.value.http_status == 422
            assert client.classify("my card")["predictions"][0]["label"] == "card"
    with nlpops.Client(url) as gone:
        assert not gone.health()  # the service is gone: unreachable is "not alive"


class _Script:
    """A transport answering from a script of statuses (503s with a Retry-After, then 200), counting calls."""

    def __init__(self, statuses: list[int], retry_after: str = "0") -> None:
        self.statuses = statuses
        self.retry_after = retry_after
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        status = self.statuses[min(self.calls, len(self.statuses) - 1)]
        self.calls += 1
        if status == 503:
            return httpx.Response(
                503,
                json={"error": {"code": "unavailable", "message": "The queue is full."}},
                headers={"retry-after": self.retry_after},
            )
        return httpx.Response(200, json={"model": "m", "version": "1", "predictions": []})


def test_client_retries_503_up_to_max_attempts_then_raises() -> None:
    script = _Script([503, 503, 200])
    with nlpops.Client("http://svc", transport=httpx.MockTransport(script), rng=lambda: 0.0) as client:
        assert client.classify("x")["model"] == "m" and script.calls == 3
    script = _Script([503])
    client = nlpops.Client("http://svc", max_attempts=4, transport=httpx.MockTransport(script), rng=lambda: 0.0)
    with pytest.raises(OverloadedError, match="queue is full"):
        client.classify("x")
    assert script.calls == 4


def test_client_does_not_wait_beyond_its_retry_budget() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)  # an HTTP-date Retry-After
    script = _Script([503, 200], retry_after=later)
    client = nlpops.Client("http://svc", retry_budget_s=5, transport=httpx.MockTransport(script))
    with pytest.raises(OverloadedError):
        client.classify("x")  # waiting 120 s would exceed the 5 s budget: answered at once
    assert script.calls == 1


def test_async_client_retries_like_the_sync_client() -> None:
    script = _Script([503, 200], retry_after="0.01")

    async def run() -> dict[str, object]:
        transport = httpx.MockTransport(script)
        async with nlpops.AsyncClient("http://svc", transport=transport) as client:
            return await client.classify(["x"])

    assert asyncio.run(run())["version"] == "1" and script.calls == 2


def test_client_timeout_names_the_setting() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = nlpops.Client("http://svc", timeout_s=0.5, transport=httpx.MockTransport(slow))
    with pytest.raises(ServingError, match=r"within 0.5 s.*timeout_s.*--timeout-s"):
        client.classify("x")


@pytest.mark.parametrize(
    ("url", "options"),
    [("127.0.0.1:8000", {}), ("ftp://host", {}), ("http://h", {"max_attempts": 0}), ("http://h", {"timeout_s": 0})],
)
def test_client_refuses_bad_arguments(url: str, options: dict[str, float]) -> None:
    with pytest.raises(NlpopsError, match=r"http|max_attempts"):
        nlpops.Client(url, **options)  # type: ignore[arg-type]
