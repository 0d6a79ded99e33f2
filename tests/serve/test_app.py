"""The service over a real socket: parity with in-process predictions, concurrency, errors, auth, metrics."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
from serve_support import live_server, make_app

from nlpops.bundle import Bundle
from nlpops.client import Client
from nlpops.data import bundled_dataset, read_dataset
from nlpops.errors import AuthError, RequestError
from nlpops.runtimes import load_predictor

KEY = "s3cret-key"
ROUTES = [
    ("POST", "/v1/classify"),
    ("GET", "/v1/models"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
]


def test_service_predictions_equal_in_process_predictions(tiny_bundle: Bundle) -> None:
    texts = read_dataset(bundled_dataset("banking77", "test")).texts[:40]
    predictor = load_predictor(tiny_bundle.path)
    expected = predictor.predict_proba(texts)
    with live_server(make_app(tiny_bundle.path)) as url:
        with Client(url) as client:
            answer = client.classify(texts, return_scores=True)
        single = httpx.post(f"{url}/v1/classify", json={"text": texts[0]}).json()
    assert answer["model"] == "tiny" and answer["version"] == tiny_bundle.manifest.version
    for row, prediction in zip(expected, answer["predictions"], strict=True):
        assert prediction["label"] == predictor.labels[int(row.argmax())]
        assert prediction["score"] == pytest.approx(float(row.max()), abs=1e-12)
        assert [prediction["scores"][label] for label in predictor.labels] == pytest.approx(row.tolist(), abs=1e-12)
        assert prediction["lang"] == "en"
    assert single["predictions"][0]["label"] == answer["predictions"][0]["label"]
    assert "scores" not in single["predictions"][0]


@pytest.mark.slow
def test_service_answers_64_concurrent_clients_each_with_its_own_result(tiny_bundle: Bundle) -> None:
    texts = read_dataset(bundled_dataset("banking77", "train")).texts[: 64 * 50]
    assert len(set(texts)) > 3000
    predictor = load_predictor(tiny_bundle.path)
    expected = [(label, score) for label, score in predictor.predict(texts)]

    async def client(url: str, worker: int, http: httpx.AsyncClient) -> list[str]:
        problems = []
        for i in range(50):
            index = worker * 50 + i
            response = await http.post(f"{url}/v1/classify", json={"texts": [texts[index]], "return_scores": True})
            if response.status_code != 200:
                problems.append(f"{index}: HTTP {response.status_code}")
                continue
            prediction = response.json()["predictions"][0]
            label, score = expected[index]
            if prediction["label"] != label or not np.isclose(prediction["score"], score, atol=1e-12):
                problems.append(f"{index}: got {prediction['label']} for text {texts[index]!r}")
        return problems

    async def load(url: str) -> list[str]:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:
            results = await asyncio.gather(*(client(url, w, http) for w in range(64)))
        return [p for r in results for p in r]

    app = make_app(tiny_bundle.path)
    with live_server(app) as url:
        problems = asyncio.run(load(url))
        metrics = httpx.get(f"{url}/metrics").text
    assert problems == []
    assert 'nlpops_http_requests_total{route="/v1/classify",status="200"} 3200.0' in metrics
    assert "nlpops_batch_size_count" in metrics and "nlpops_queue_wait_seconds_count" in metrics
    assert "nlpops_queue_depth" in metrics


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b'{"texts": []}', 422, '"texts" is empty'),
        (b'{"texts": ["ok", ""]}', 422, '"texts[1]" is empty'),
        (b'{"texts": ["ok", 3]}', 422, '"texts[1]" must be a string'),
        (b'{"text": null}', 422, '"text" must be a string'),
        (b'{"texts": "abc"}', 422, '"texts" must be a list'),
        (b'{"text": "a", "texts": ["b"]}', 422, "exactly one"),
        (b'{"texts": ["a"], "extra": 1}', 422, 'Unknown field "extra"'),
        (b'{"texts": ["a"], "return_scores": "yes"}', 422, "return_scores"),
        (b'["a"]', 422, "JSON object"),
        (b'{"texts": ["a", "b", "c", "d"]}', 413, "max_texts_per_request"),
        (b'{"text": "' + b"x" * 51 + b'"}', 413, "max_chars_per_text"),
        (b'{"text": "' + b"x" * 300 + b'"}', 413, "max_body_bytes"),
    ],
)
def test_service_answers_malformed_requests_with_json_errors(
    tiny_bundle: Bundle, body: bytes, status: int, fragment: str
) -> None:
    app = make_app(tiny_bundle.path, max_texts_per_request=3, max_chars_per_text=50, max_body_bytes=200)
    with live_server(app) as url:
        response = httpx.post(f"{url}/v1/classify", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert fragment in error["message"] and error["code"]


def test_service_truncates_long_texts_when_configured(tiny_bundle: Bundle) -> None:
    with live_server(make_app(tiny_bundle.path, max_chars_per_text=10, truncate=True)) as url:
        response = httpx.post(f"{url}/v1/classify", json={"text": "my card has not arrived yet, please help"})
    assert response.status_code == 200


def test_service_routes_answer_404_and_405_as_json(tiny_bundle: Bundle) -> None:
    with live_server(make_app(tiny_bundle.path)) as url:
        missing = httpx.get(f"{url}/nope")
        wrong = httpx.get(f"{url}/v1/classify")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"


def test_service_answers_503_with_retry_after_when_the_queue_is_full(tiny_bundle: Bundle) -> None:
    with live_server(make_app(tiny_bundle.path, max_queue=2)) as url:
        response = httpx.post(f"{url}/v1/classify", json={"texts": ["a", "b", "c"]})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "unavailable"


def test_service_auth_gives_documented_status_on_every_route(tiny_bundle: Bundle) -> None:
    open_routes = {"/healthz", "/readyz", "/openapi.json", "/docs"}
    for protect_metrics in (True, False):
        app = make_app(tiny_bundle.path, api_keys=[KEY, "another"], protect_metrics=protect_metrics)
        with live_server(app) as url:
            for method, path in ROUTES:
                body = {"json": {"text": "my card"}} if method == "POST" else {}
                protected = path not in open_routes and (path != "/metrics" or protect_metrics)
                missing = httpx.request(method, url + path, **body)
                wrong = httpx.request(method, url + path, headers={"X-API-Key": "nope"}, **body)
                bearer = httpx.request(method, url + path, headers={"Authorization": f"Bearer {KEY}"}, **body)
                header = httpx.request(method, url + path, headers={"X-API-Key": KEY}, **body)
                assert (missing.status_code, wrong.status_code) == ((401, 401) if protected else (200, 200)), path
                assert bearer.status_code == header.status_code == 200, path
                if protected:
                    assert missing.json()["error"]["code"] == "unauthorized"
            with pytest.raises(AuthError), Client(url, api_key="wrong") as client:
                client.classify(["my card"])
            with Client(url, api_key=KEY) as client:
                assert client.classify(["my card"])["predictions"][0]["label"] == "card"


def test_service_keeps_only_hashes_of_api_keys(tiny_bundle: Bundle) -> None:
    app = make_app(tiny_bundle.path, api_keys=[KEY])
    assert KEY not in repr(vars(app.core.keys))


def test_client_raises_request_error_with_the_service_message(tiny_bundle: Bundle) -> None:
    with (
        live_server(make_app(tiny_bundle.path)) as url,
        Client(url) as client,
        pytest.raises(RequestError, match="empty"),
    ):
        client.classify([""])


def test_service_lists_the_model_and_serves_docs_and_openapi(tiny_bundle: Bundle) -> None:
    with live_server(make_app(tiny_bundle.path)) as url:
        models = httpx.get(f"{url}/v1/models").json()["models"]
        docs = httpx.get(f"{url}/docs")
        spec = httpx.get(f"{url}/openapi.json").json()
        ready = httpx.get(f"{url}/readyz")
    assert models[0]["name"] == "tiny" and models[0]["labels"] == ["card", "money"]
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    assert "http://" not in docs.text and "https://" not in docs.text  # nothing fetched from outside
    assert spec["openapi"].startswith("3.") and set(spec["paths"]) >= {"/v1/classify", "/metrics", "/readyz"}
    assert ready.json() == {"status": "ready"}
