"""Client-supplied labels cannot grow what a service keeps: 20,000 requests with random ``lang`` values leave
the status document and the statistics store within 2x of their size after 20 requests."""

from __future__ import annotations

import asyncio
import json
import random
import string
from pathlib import Path

import httpx
import pytest
from serve_support import live_server

from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.monitor import LiveStats, StatsStore, monitor_hooks
from nlpops.runtimes.langid import OTHER, UND, bounded_lang
from nlpops.serve import build_app, bundle_source

TEXTS = ["my card has not arrived", "refund the fee please", "what is the exchange rate", "my card was stolen"]


def _random_lang(rng: random.Random) -> str:
    if rng.random() < 0.1:
        return "en"
    return "".join(rng.choices(string.ascii_letters + string.digits + "-_", k=rng.randint(2, 12)))


async def _send(port: int, requests: int, rng: random.Random, concurrency: int = 16) -> None:
    """``requests`` classify requests, each with its own random ``lang``, over ``concurrency`` keep-alive
    connections (a bare HTTP/1.1 client: httpx would spend more time than the service)."""
    bodies = [json.dumps({"text": TEXTS[i % len(TEXTS)], "lang": _random_lang(rng)}).encode() for i in range(requests)]

    async def client(share: list[bytes]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for body in share:
                writer.write(
                    b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200"), head
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(client(bodies[c::concurrency]) for c in range(concurrency)))


def _measure(bundle: Bundle, folder: Path, requests: int) -> tuple[int, int, int]:
    """(status document bytes, store bytes, store rows) after ``requests`` requests and one flush."""
    folder.mkdir()
    store = StatsStore(folder / "monitor.db")
    live = LiveStats(store)
    hooks = monitor_hooks(live, refresh_interval_s=3600.0)  # flushed once, below: sizes compare like for like
    app = build_app(bundle_source(bundle.path), ServingSettings(), MonitoringSettings(), follow=False, hooks=hooks)
    with live_server(app) as url:
        asyncio.run(_send(int(url.rsplit(":", 1)[1]), requests, random.Random(requests)))
        status = httpx.get(f"{url}/v1/status", timeout=60)
        assert status.status_code == 200
        document = status.content
        assert set(status.json()["languages"]) <= {"en", UND, OTHER}
    live.flush()
    rows = len(store.load_windows(bundle.manifest.name))
    size = sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith("monitor.db"))
    return len(document), size, rows


@pytest.mark.slow
def test_random_lang_values_do_not_grow_the_status_document_or_the_store(tiny_bundle: Bundle, tmp_path: Path) -> None:
    doc_20, store_20, rows_20 = _measure(tiny_bundle, tmp_path / "after-20", 20)
    doc_20k, store_20k, rows_20k = _measure(tiny_bundle, tmp_path / "after-20000", 20_000)
    figures = f"status document {doc_20} -> {doc_20k} bytes, store {store_20} -> {store_20k} bytes"
    figures += f" ({rows_20} -> {rows_20k} rows)"
    assert doc_20k <= 2 * doc_20, figures
    assert store_20k <= 2 * store_20 and rows_20k <= 2 * rows_20, figures


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (None, None),
        ("en", "en"),
        ("EN-us", "en"),
        (" de_AT ", "de"),
        ("", UND),
        ("und", UND),
        ("xx", OTHER),
        ("x" * 10_000, OTHER),
        ("en\n", "en"),
        ("évil", OTHER),
    ],
)
def test_bounded_lang(code: str | None, expected: str | None) -> None:
    assert bounded_lang(code, ["en", "de"]) == expected
