"""Hot swap against a real SqliteRegistry: the service follows the alias under load without failing a request."""

from __future__ import annotations

import asyncio
import gc
import re
import time
import weakref
from pathlib import Path

import httpx
from serve_support import live_server

from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.registry import SqliteRegistry
from nlpops.serve import build_app, load_model, registry_source
from nlpops.serve.metrics import ServiceMetrics
from nlpops.serve.reload import ModelReloader
from nlpops.serve.source import LoadedModel

SERVING = ServingSettings(poll_interval_s=0.05)


def _failures(metrics: str) -> float:
    match = re.search(r'^nlpops_model_load_failures_total\{model="tiny"\} (\S+)$', metrics, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def _wait_for_version(http: httpx.AsyncClient, url: str, version: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = (await http.post(f"{url}/v1/classify", json={"text": "my card"})).json()
        if answer["version"] == version:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the service never switched to version {version}")


def test_service_follows_alias_under_load_without_failed_requests(
    tmp_path: Path, tiny_bundle: Bundle, other_bundle: Bundle
) -> None:
    registry = SqliteRegistry(tmp_path / "registry")
    versions = [registry.register((tiny_bundle if i % 2 == 0 else other_bundle).path).version for i in range(6)]
    registry.promote("tiny", versions[0])
    source = registry_source(registry, "tiny", "production")
    app = build_app(source, SERVING, MonitoringSettings(), follow=True, initial=load_model(source()))

    async def scenario(url: str) -> tuple[list[str], list[list[int]]]:
        stop = asyncio.Event()
        problems: list[str] = []
        seen: list[list[int]] = [[] for _ in range(16)]

        async def client(worker: int, http: httpx.AsyncClient) -> None:
            while not stop.is_set():
                response = await http.post(f"{url}/v1/classify", json={"texts": ["my card was stolen", "refund"]})
                if response.status_code != 200:
                    problems.append(f"HTTP {response.status_code}: {response.text}")
                    continue
                seen[worker].append(int(response.json()["version"]))

        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=32)) as http:
            load = [asyncio.create_task(client(w, http)) for w in range(16)]
            while not any(seen) and not problems:  # traffic on the first version before the first move
                await asyncio.sleep(0.01)
            for version in versions[1:]:
                await asyncio.to_thread(registry.promote, "tiny", version)
                await _wait_for_version(http, url, str(version))
            stop.set()
            await asyncio.gather(*load)
        return problems, seen

    with live_server(app) as url:
        problems, seen = asyncio.run(scenario(url))
        metrics = httpx.get(f"{url}/metrics").text
    assert problems == []
    for per_client in seen:
        assert per_client == sorted(per_client)  # never back to an older version once a newer one answered
    assert {v for per_client in seen for v in per_client} >= {versions[0], versions[-1]}
    assert 'nlpops_model_swaps_total{model="tiny"} 5.0' in metrics
    assert f'nlpops_model_info{{model="tiny",version="{versions[-1]}"}} 1.0' in metrics


def test_service_keeps_serving_old_version_when_new_one_is_corrupt(tmp_path: Path, tiny_bundle: Bundle) -> None:
    registry = SqliteRegistry(tmp_path / "registry")
    good = registry.register(tiny_bundle.path)
    registry.promote("tiny", good.version)
    bad = registry.register(tiny_bundle.path)
    model_file = Path(bad.bundle_path) / "pipeline.npz"
    model_file.write_bytes(model_file.read_bytes()[:100])  # truncated: fails checksum verification
    source = registry_source(registry, "tiny", "production")
    app = build_app(source, SERVING, MonitoringSettings(), follow=True, initial=load_model(source()))
    with live_server(app) as url:
        before = _failures(httpx.get(f"{url}/metrics").text)
        registry.promote("tiny", bad.version)
        deadline = time.monotonic() + 60
        while _failures(httpx.get(f"{url}/metrics").text) <= before:
            assert time.monotonic() < deadline, "the corrupt version was never tried"
            time.sleep(0.05)
        answer = httpx.post(f"{url}/v1/classify", json={"text": "my card"})
        models = httpx.get(f"{url}/v1/models").json()["models"]
    assert answer.status_code == 200 and answer.json()["version"] == str(good.version)
    assert models[0]["version"] == str(good.version)
    assert before == 0.0


def test_reloader_keeps_the_live_model_out_of_full_garbage_collections(
    tmp_path: Path, tiny_bundle: Bundle, other_bundle: Bundle
) -> None:
    # a full collection walks every tracked object (a TF-IDF vocabulary is one per n-gram: 50-150 ms with the GIL
    # held, the service's slowest answers); frozen objects are skipped, and gc.get_objects() does not list them
    registry = SqliteRegistry(tmp_path / "registry")
    registry.promote("tiny", registry.register(tiny_bundle.path).version)
    reloader = ModelReloader(registry_source(registry, "tiny", "production"), ServiceMetrics(""), poll_interval_s=None)

    def collected(model: LoadedModel) -> bool:
        pipeline = model.predictor.pipeline  # type: ignore[attr-defined]
        return any(o is pipeline for o in gc.get_objects())

    async def swap() -> tuple[bool, bool, bool]:
        first = await reloader.load_initial()
        first_collected = collected(first)
        gone = weakref.ref(first)
        del first
        registry.promote("tiny", registry.register(other_bundle.path).version)
        assert await reloader.check_now()
        assert reloader.current is not None
        return first_collected, collected(reloader.current), gone() is None

    first_collected, second_collected, previous_freed = asyncio.run(swap())
    assert not first_collected and not second_collected and previous_freed
