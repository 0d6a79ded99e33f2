"""``nlpops serve --engine ray``: the Ray Serve deployment answers like the plain service, batched by Ray."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, RegistrySettings, ServingSettings
from nlpops.serve import build_app, bundle_source
from nlpops.testing import tiny_tfidf_bundle
from nlpops.testing.serving import HttpFrontEnd, RayFrontEnd, check_serving_conformance

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

TEXTS = ["I lost my card", "what is the exchange rate", "my transfer has not arrived", "top up failed", "hello"]
NLPOPS = str(Path(sys.executable).parent / "nlpops")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_cli_serve_engine_ray_matches_plain_service(tiny_bundle: Bundle, tmp_path: Path) -> None:
    # first in this module: the in-process cluster of ``ray_url`` is not running yet
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "ray.log"
    with log.open("wb") as out:  # its own session, so the Ray processes it starts can be stopped with it
        process = subprocess.Popen(
            [NLPOPS, "serve", str(tiny_bundle.path), "--engine", "ray", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        )
    try:
        deadline = time.monotonic() + 180
        answer = None
        while answer is None:
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "nlpops serve --engine ray did not answer in 180 s"
            try:
                response = httpx.post(f"{url}/v1/classify", json={"texts": TEXTS, "return_scores": True}, timeout=30)
                answer = response.json() if response.status_code == 200 else None
            except httpx.TransportError:
                pass
            if answer is None:
                time.sleep(0.5)
        models = httpx.get(f"{url}/v1/models", timeout=30).json()["models"]
    finally:
        process.send_signal(signal.SIGTERM)  # serve_ray shuts Serve and Ray down
        try:
            process.wait(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever of its session is left
    plain = asyncio.run(_plain_answer(tiny_bundle.path, {"texts": TEXTS, "return_scores": True}))
    assert models[0]["name"] == "tiny" and models[0]["version"] == tiny_bundle.manifest.version
    assert (answer["model"], answer["version"]) == (plain["model"], plain["version"])
    for mine, theirs in zip(answer["predictions"], plain["predictions"], strict=True):
        assert mine["label"] == theirs["label"] and mine["lang"] == theirs["lang"]
        assert mine["score"] == pytest.approx(theirs["score"], abs=1e-9)
        assert mine["scores"] == pytest.approx(theirs["scores"], abs=1e-9)


def test_cli_serve_rejects_an_unknown_engine(tiny_bundle: Bundle) -> None:
    result = subprocess.run(
        [NLPOPS, "serve", str(tiny_bundle.path), "--engine", "gunicorn"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert 'Unknown engine "gunicorn"' in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def ray_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from nlpops.serve.ray import build_ray_app

    bundle = tiny_tfidf_bundle(tmp_path_factory.mktemp("ray") / "bundle", name="tiny").path
    port = _free_port()
    serving = ServingSettings(max_batch_size=16, max_wait_ms=50.0)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_ray_app(str(bundle), serving, RegistrySettings()), name="nlpops", route_prefix="/")
        yield f"http://127.0.0.1:{port}", bundle
    finally:
        serve.shutdown()
        ray.shutdown()


async def _plain_answer(bundle: Path, body: dict) -> dict:
    app = build_app(bundle_source(bundle), ServingSettings(), MonitoringSettings(), follow=False)
    await app.startup()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/v1/classify", json=body)
    finally:
        await app.shutdown()
    assert response.status_code == 200
    return dict(response.json())


@pytest.mark.slow
def test_serve_ray_classify_matches_plain_service(ray_url: tuple[str, Path]) -> None:
    url, bundle = ray_url
    body = {"texts": TEXTS, "return_scores": True}
    ray_answer = httpx.post(f"{url}/v1/classify", json=body, timeout=60).json()
    plain = asyncio.run(_plain_answer(bundle, body))
    assert ray_answer["model"] == plain["model"] and ray_answer["version"] == plain["version"]
    assert [p["label"] for p in ray_answer["predictions"]] == [p["label"] for p in plain["predictions"]]
    for mine, theirs in zip(ray_answer["predictions"], plain["predictions"], strict=True):
        assert mine["score"] == pytest.approx(theirs["score"], abs=1e-6)
        assert mine["scores"].keys() == theirs["scores"].keys()


@pytest.mark.slow
def test_serve_ray_answers_the_conformance_suite_like_nlpops_serve(
    ray_url: tuple[str, Path], tiny_bundle: Bundle, tiny_set: Bundle
) -> None:
    url, _ = ray_url  # the module's Serve instance; each service of the suite is one more application on it
    ray_answers = check_serving_conformance(RayFrontEnd(url), tiny_bundle, tiny_set)
    http_answers = check_serving_conformance(HttpFrontEnd(), tiny_bundle, tiny_set)
    assert ray_answers.keys() == http_answers.keys()
    for case, answer in ray_answers.items():
        assert answer == http_answers[case], f"{case}: Ray answered {answer}, nlpops serve {http_answers[case]}"


@pytest.mark.slow
def test_serve_ray_routes_and_errors(ray_url: tuple[str, Path]) -> None:
    url, _ = ray_url
    assert httpx.get(f"{url}/healthz", timeout=30).json() == {"status": "ok"}
    assert httpx.get(f"{url}/readyz", timeout=30).status_code == 200
    assert httpx.get(f"{url}/v1/models", timeout=30).json()["models"][0]["name"] == "tiny"
    json_type = {"content-type": "application/json"}
    bad = httpx.post(f"{url}/v1/classify", content=b"{not json", headers=json_type, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    plain = httpx.post(f"{url}/v1/classify", content=b'{"text": "x"}', timeout=30)
    assert plain.status_code == 415 and plain.json()["error"]["code"] == "unsupported_media_type"
    assert httpx.get(f"{url}/v1/classify", timeout=30).status_code == 405


@pytest.mark.slow
def test_serve_ray_batches_concurrent_requests(ray_url: tuple[str, Path]) -> None:
    url, _ = ray_url

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=60) as client:
            answers = await asyncio.gather(
                *(client.post(f"{url}/v1/classify", json={"text": TEXTS[i % len(TEXTS)]}) for i in range(48))
            )
        return [a.status_code for a in answers]

    before = _batch_stats(httpx.get(f"{url}/metrics", timeout=30).text)
    assert set(asyncio.run(burst())) == {200}
    after = _batch_stats(httpx.get(f"{url}/metrics", timeout=30).text)
    texts, calls = after[0] - before[0], after[1] - before[1]
    assert texts == 48
    assert calls < texts, f"Ray did not batch: {calls} model calls for {texts} texts"


def _batch_stats(metrics: str) -> tuple[float, float]:
    total = re.search(r"^nlpops_batch_size_sum (\S+)$", metrics, re.M)
    count = re.search(r"^nlpops_batch_size_count (\S+)$", metrics, re.M)
    assert total and count, metrics[:500]
    return float(total.group(1)), float(count.group(1))


@pytest.mark.slow
def test_serve_ray_follows_the_alias(ray_url: tuple[str, Path], tmp_path: Path) -> None:
    from nlpops.registry import SqliteRegistry
    from nlpops.serve.ray import build_ray_app

    url, _ = ray_url  # the module's Ray instance; this application gets its own route prefix
    home = tmp_path / "registry"
    registry = SqliteRegistry(home)
    first = registry.register(tiny_tfidf_bundle(tmp_path / "v1", name="swap").path)
    second = registry.register(tiny_tfidf_bundle(tmp_path / "v2", name="swap", c=0.5).path)
    registry.promote("swap", first.version)
    serving = ServingSettings(max_batch_size=16, max_wait_ms=20.0, poll_interval_s=0.3)
    serve.run(build_ray_app("swap@production", serving, RegistrySettings(home=home)), name="swap", route_prefix="/swap")
    try:

        def version() -> str:
            answer = httpx.post(f"{url}/swap/v1/classify", json={"text": "my card"}, timeout=30)
            assert answer.status_code == 200, answer.text
            return str(answer.json()["version"])

        assert version() == str(first.version)
        registry.promote("swap", second.version)
        deadline = time.monotonic() + 60
        while version() != str(second.version):
            assert time.monotonic() < deadline, "the Ray replica never switched to the promoted version"
            time.sleep(0.2)
        models = httpx.get(f"{url}/swap/v1/models", timeout=30).json()["models"]
        assert models[0]["version"] == str(second.version)
        metrics = httpx.get(f"{url}/swap/metrics", timeout=30).text
        assert 'nlpops_model_swaps_total{model="swap"} 1.0' in metrics
    finally:
        serve.delete("swap")


def test_serve_ray_old_module_path_still_works_with_a_deprecation_warning() -> None:
    import importlib
    import sys

    from nlpops.serve.ray import app_builder

    sys.modules.pop("nlpops.serve_ray", None)
    with pytest.warns(DeprecationWarning, match=r"nlpops\.serve\.ray:app_builder"):
        old = importlib.import_module("nlpops.serve_ray")
    assert old.app_builder is app_builder
