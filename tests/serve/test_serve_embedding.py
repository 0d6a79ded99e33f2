"""An embedding model behind the service: /v1/embed answers the in-process vectors (float32 numbers or base64)
through the one batcher, with the limits, keys and metrics of every endpoint; another task's endpoint answers
409 in one line; a hot swap between two embedding versions under load fails no request."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from serve_support import live_server

from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.client import AsyncClient, Client
from nlpops.data import bundled_dataset, read_dataset
from nlpops.errors import ServingError
from nlpops.registry import SqliteRegistry
from nlpops.runtimes import load_predictor
from nlpops.serve import build_app, bundle_source, load_model, registry_source
from nlpops.testing import tiny_embedding_bundle

KEY = "embed-test-key-0123456789"
TEXTS = [*read_dataset(bundled_dataset("banking77", "test")).texts[:48], "   ", "😀 12345", "Où est ma carte ?"]


@pytest.fixture(scope="module")
def encoders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Bundle, Bundle]:
    """Two versions of one embedding model (mean and CLS pooling: different vectors)."""
    folder = tmp_path_factory.mktemp("encoders")
    return (
        tiny_embedding_bundle(folder / "a", name="tiny-emb"),
        tiny_embedding_bundle(folder / "b", name="tiny-emb", pooling="cls"),
    )


def _vectors(document: dict[str, Any]) -> np.ndarray:
    if document["encoding"] == "base64":
        rows = [np.frombuffer(base64.b64decode(p["vector"]), dtype="<f4") for p in document["predictions"]]
        return np.vstack(rows)
    return np.asarray([p["vector"] for p in document["predictions"]], dtype=np.float64)


def test_embed_served_vectors_equal_in_process_vectors(encoders: tuple[Bundle, Bundle]) -> None:
    bundle = encoders[0]
    expected = load_predictor(bundle.path).embed(TEXTS)
    serving = ServingSettings(api_keys=[KEY], max_wait_ms=20)
    app = build_app(bundle_source(bundle.path), serving, MonitoringSettings(), follow=False)

    async def concurrently(url: str) -> list[dict[str, Any]]:  # one text per request: the batcher joins them
        async with httpx.AsyncClient(base_url=url, timeout=60, headers={"x-api-key": KEY}) as http:
            bodies = [
                {"text": text, "encoding": "base64"} if i % 2 else {"texts": [text]} for i, text in enumerate(TEXTS)
            ]
            answers = await asyncio.gather(*(http.post("/v1/embed", json=body) for body in bodies))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
        return [a.json() for a in answers]

    with live_server(app) as url:
        single = asyncio.run(concurrently(url))
        auth = {"x-api-key": KEY}
        together = httpx.post(f"{url}/v1/embed", json={"texts": TEXTS}, headers=auth, timeout=60).json()
        packed = httpx.post(
            f"{url}/v1/embed", json={"texts": TEXTS, "encoding": "base64", "lang": "en"}, headers=auth, timeout=60
        )
        metrics = httpx.get(f"{url}/metrics", headers=auth, timeout=60).text
    served = np.vstack([_vectors(document) for document in single])
    assert np.abs(served - expected).max() < 1e-5
    assert np.abs(_vectors(together) - expected).max() < 1e-5
    b64 = packed.json()
    assert np.abs(_vectors(b64) - expected).max() < 1e-5
    assert (together["dim"], together["encoding"], b64["encoding"]) == (32, "float", "base64")
    assert (together["model"], together["version"]) == ("tiny-emb", bundle.manifest.version)
    assert {p["lang"] for p in together["predictions"]} == {"en"} and len(together["predictions"]) == len(TEXTS)
    assert len(packed.content) < len(httpx.Response(200, json=together).content)  # base64 saves bytes
    assert 'nlpops_http_requests_total{route="/v1/embed",status="200"}' in metrics
    batches = float(
        next(line.split()[-1] for line in metrics.splitlines() if line.startswith("nlpops_batch_size_count"))
    )
    assert batches < len(TEXTS) + 2  # concurrent single-text requests shared batches


def test_embed_limits_keys_and_task_mismatch_answer_one_line(
    encoders: tuple[Bundle, Bundle], tiny_bundle: Bundle
) -> None:
    serving = ServingSettings(api_keys=[KEY], max_texts_per_request=3, max_chars_per_text=50)
    auth = {"x-api-key": KEY}
    app = build_app(bundle_source(encoders[0].path), serving, MonitoringSettings(), follow=False)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=60) as http:
        answers = {
            "no_key": http.post("/v1/embed", json={"text": "card"}),
            "too_many": http.post("/v1/embed", json={"texts": ["a"] * 4}, headers=auth),
            "too_long": http.post("/v1/embed", json={"text": "x" * 51}, headers=auth),
            "encoding": http.post("/v1/embed", json={"text": "a", "encoding": "float16"}, headers=auth),
            "field": http.post("/v1/embed", json={"text": "a", "return_scores": True}, headers=auth),
            "classify": http.post("/v1/classify", json={"text": "my card"}, headers=auth),
            "entities": http.post("/v1/entities", json={"text": "my card"}, headers=auth),
            "models": http.get("/v1/models", headers=auth),
        }
    statuses = {case: answer.status_code for case, answer in answers.items()}
    assert statuses == {
        "no_key": 401,
        "too_many": 413,
        "too_long": 413,
        "encoding": 422,
        "field": 422,
        "classify": 409,
        "entities": 409,
        "models": 200,
    }
    assert answers["encoding"].json()["error"]["message"] == '"encoding" must be "float" or "base64", got "float16".'
    assert "Allowed: texts, text, lang, encoding." in answers["field"].json()["error"]["message"]
    message = answers["classify"].json()["error"]["message"]
    assert answers["classify"].json()["error"]["code"] == "wrong_task" and "\n" not in message
    assert message == (
        f"/v1/classify answers classification or multilabel models; model tiny-emb version "
        f"{encoders[0].manifest.version} is an embedding model. Send it to /v1/embed."
    )
    assert answers["models"].json()["models"][0]["task"] == "embedding"
    with live_server(
        build_app(bundle_source(tiny_bundle.path), ServingSettings(), MonitoringSettings(), follow=False)
    ) as url:
        wrong = httpx.post(f"{url}/v1/embed", json={"text": "my card", "encoding": "base64"}, timeout=60)
    assert wrong.status_code == 409 and "is a classification model. Send it to /v1/classify." in wrong.text


def test_embed_hot_swap_under_load_fails_no_request(tmp_path: Path, encoders: tuple[Bundle, Bundle]) -> None:
    registry = SqliteRegistry(tmp_path / "registry")
    versions = [registry.register(encoders[i % 2].path).version for i in range(4)]
    registry.promote("tiny-emb", versions[0])
    source = registry_source(registry, "tiny-emb", "production")
    app = build_app(
        source, ServingSettings(poll_interval_s=0.05), MonitoringSettings(), follow=True, initial=load_model(source())
    )
    texts = TEXTS[:3]
    expected = {str(v): load_predictor(encoders[i % 2].path).embed(texts) for i, v in enumerate(versions)}

    async def scenario(url: str) -> tuple[list[str], list[list[int]]]:
        stop = asyncio.Event()
        problems: list[str] = []
        seen: list[list[int]] = [[] for _ in range(12)]

        async def client(worker: int, http: httpx.AsyncClient) -> None:
            while not stop.is_set():
                response = await http.post(f"{url}/v1/embed", json={"texts": texts, "encoding": "base64"})
                if response.status_code != 200:
                    problems.append(f"HTTP {response.status_code}: {response.text}")
                    continue
                document = response.json()
                if np.abs(_vectors(document) - expected[document["version"]]).max() >= 1e-5:
                    problems.append(f"version {document['version']} answered other vectors")
                seen[worker].append(int(document["version"]))

        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=24)) as http:
            load = [asyncio.create_task(client(w, http)) for w in range(12)]
            while not any(seen) and not problems:
                await asyncio.sleep(0.01)
            for version in versions[1:]:
                await asyncio.to_thread(registry.promote, "tiny-emb", version)
                while not any(per_client and per_client[-1] == version for per_client in seen) and not problems:
                    await asyncio.sleep(0.02)
            stop.set()
            await asyncio.gather(*load)
        return problems, seen

    with live_server(app) as url:
        problems, seen = asyncio.run(scenario(url))
        metrics = httpx.get(f"{url}/metrics").text
    assert problems == []
    for per_client in seen:
        assert per_client == sorted(per_client)
    assert {v for per_client in seen for v in per_client} >= {versions[0], versions[-1]}
    assert 'nlpops_model_swaps_total{model="tiny-emb"} 3.0' in metrics


def test_client_embed_answers_the_in_process_vectors_in_both_encodings(
    encoders: tuple[Bundle, Bundle], tiny_bundle: Bundle
) -> None:
    bundle = encoders[0]
    texts = TEXTS[:5]
    expected = load_predictor(bundle.path).embed(texts)
    app = build_app(bundle_source(bundle.path), ServingSettings(), MonitoringSettings(), follow=False)
    with live_server(app) as url, Client(url, timeout_s=60) as client:
        answers = {encoding: client.embed(texts, encoding=encoding) for encoding in ("base64", "float")}
        one = client.embed("my card has not arrived")

        async def with_async_client() -> dict[str, Any]:
            async with AsyncClient(url, timeout_s=60) as http:
                return await http.embed(texts, lang="en")

        async_answer = asyncio.run(with_async_client())
    for answer in (*answers.values(), async_answer):
        assert answer["vectors"].dtype == np.float32 and answer["vectors"].shape == expected.shape
        assert np.abs(answer["vectors"] - expected).max() < 1e-5
        assert all(isinstance(p["vector"], np.ndarray) for p in answer["predictions"])
    assert [answer["encoding"] for answer in answers.values()] == ["base64", "float"]
    assert one["vectors"].shape == (1, expected.shape[1]) and one["dim"] == expected.shape[1]
    assert {p["lang"] for p in async_answer["predictions"]} == {"en"}
    with (
        live_server(
            build_app(bundle_source(tiny_bundle.path), ServingSettings(), MonitoringSettings(), follow=False)
        ) as url,
        Client(url, timeout_s=60) as client,
        pytest.raises(ServingError) as refused,
    ):
        client.embed("my card")
    assert "Send it to /v1/classify." in str(refused.value) and "\n" not in str(refused.value)
