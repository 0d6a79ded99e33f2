"""The serving conformance suite: one set of HTTP exchanges every front end of the service must answer alike.

A front end (:class:`FrontEnd`) starts a real service for a ref and serving settings and yields its base URL:
:class:`HttpFrontEnd` (what ``nlpops serve`` runs: uvicorn with nlpops' own HTTP protocol,
:class:`~nlpops.serve.http.HttpProtocol`, on 127.0.0.1, port 0, in a thread), :class:`AsgiFrontEnd` (the ASGI app
under uvicorn's own protocol, as any ASGI server would run it) and :class:`RayFrontEnd` (the Ray Serve deployment,
one application per service on a running Serve instance).
:func:`check_serving_conformance` sends the same requests to three services (a single model with API keys and
tight limits, a model set, the same model set with ``serving.lang``), checks what the HTTP contract promises
(statuses, error codes, ``Retry-After`` on 503, ``Allow`` on 405, 409 for another task's endpoint, per-text
``lang``, predictions equal to the model's in-process ones; the Open Inference Protocol's ``/v2`` routes,
:mod:`nlpops.testing.serving_v2`) and returns every answer, so that two front ends can be compared byte for byte.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson

from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, NlpopsConfig, RegistrySettings, ServingSettings
from nlpops.data import Dataset
from nlpops.languages import train_by_language
from nlpops.runtimes import load_predictor
from nlpops.serve import ServiceApp, build_app, source_for_ref
from nlpops.testing import TINY_TEXTS
from nlpops.testing.serving_v2 import check_model_set_v2, check_single_model_v2, model_set_v2, single_model_v2

KEY = "conformance-key"
"""The API key of the single-model service."""

TINY_GERMAN_TEXTS: list[tuple[str, str]] = [
    ("meine Karte ist noch nicht angekommen", "card"),
    ("wann wird meine neue Karte geliefert", "card"),
    ("ich habe gestern meine Karte verloren", "card"),
    ("die Karte wurde aus meiner Geldbörse gestohlen", "card"),
    ("meine Debitkarte ist gesperrt", "card"),
    ("bitte schicken Sie mir eine Ersatzkarte", "card"),
    ("wie ist der Wechselkurs für Euro", "money"),
    ("was kostet eine Überweisung ins Ausland", "money"),
    ("mir wurde dieselbe Zahlung zweimal berechnet", "money"),
    ("mein Kontostand hat sich nach der Aufladung nicht geändert", "money"),
    ("kann ich eine Rückerstattung für diesen Kauf bekommen", "money"),
    ("warum gibt es eine zusätzliche Gebühr auf meinem Kontoauszug", "money"),
]
_COMPARED_HEADERS = ("content-type", "retry-after", "allow", "www-authenticate")


def tiny_model_set(out: Path | str, *, name: str = "tiny-set") -> Bundle:
    """Train a model set (English, German and a multilingual fallback) on 24 sentences into ``out``."""
    rows = [(text, label, "en") for text, label in TINY_TEXTS] + [(t, label, "de") for t, label in TINY_GERMAN_TEXTS]
    data = Dataset([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], source="<tiny-set>")
    config = NlpopsConfig.model_validate({"name": name, "model": {"tfidf": {"c": 10.0}}})
    return train_by_language(config, data, data, out, name, "per-language")


class FrontEnd(Protocol):
    """Starts a real service behind one front end."""

    name: str

    def serve(self, ref: str, serving: ServingSettings) -> contextlib.AbstractContextManager[str]:
        """Serve ``ref`` with ``serving`` until the context exits; yields the service's base URL."""
        ...


@contextlib.contextmanager
def live_server(app: ServiceApp, *, asgi: bool = False, serving: ServingSettings | None = None) -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1, port 0, in a thread; yield its base URL.

    Args:
        app: the service.
        asgi: serve it through uvicorn's own HTTP protocol and the ASGI interface (as other ASGI servers do)
            instead of nlpops' :class:`~nlpops.serve.http.HttpProtocol` (what ``nlpops serve`` runs).
        serving: the connection limits (header deadline, keep-alive, connection cap; defaults otherwise).

    Raises:
        RuntimeError: the server did not start within 60 s.
    """
    import uvicorn

    from nlpops.serve.connections import ConnectionGuard
    from nlpops.serve.http import http_protocol

    serving = serving or ServingSettings()
    protocol: Any = (
        "httptools" if asgi else http_protocol(ConnectionGuard(serving.max_connections, serving.header_timeout_s))
    )
    options: dict[str, Any] = {"timeout_keep_alive": serving.keep_alive_timeout_s}  # uvicorn types it int
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, loop="uvloop", http=protocol, proxy_headers=False, log_level="warning", **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class HttpFrontEnd:
    """What ``nlpops serve`` runs: uvicorn with nlpops' HTTP protocol over the serving core, in a thread."""

    name = "http"
    asgi = False

    @contextlib.contextmanager
    def serve(self, ref: str, serving: ServingSettings) -> Iterator[str]:
        source = source_for_ref(ref, RegistrySettings(), serving.lang)
        app = build_app(source, serving, MonitoringSettings(), follow=False)
        with live_server(app, asgi=self.asgi, serving=serving) as url:
            yield url


class AsgiFrontEnd(HttpFrontEnd):
    """The ASGI app under uvicorn's own HTTP protocol (as any ASGI server runs it), in a thread."""

    name = "asgi"
    asgi = True


@dataclass
class RayFrontEnd:
    """The Ray Serve deployment: each service is one application on an already started Serve instance.

    Args:
        base_url: where Serve's HTTP proxy listens (``serve.start(http_options=...)``).
    """

    base_url: str
    name: str = "ray"
    _count: list[int] = field(default_factory=lambda: [0])

    @contextlib.contextmanager
    def serve(self, ref: str, serving: ServingSettings) -> Iterator[str]:
        from ray import serve

        from nlpops.serve.ray import build_ray_app

        self._count[0] += 1
        app_name = f"conformance{self._count[0]}"
        serve.run(build_ray_app(ref, serving, RegistrySettings()), name=app_name, route_prefix=f"/{app_name}")
        try:
            yield f"{self.base_url}/{app_name}"
        finally:
            serve.delete(app_name)


@dataclass(frozen=True)
class Answer:
    """One response as the suite compares it: status, the headers of the contract, the raw body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return orjson.loads(self.body)


def _ask(client: httpx.Client, method: str, path: str, *, body: Any = None, **headers: str) -> Answer:
    content = body if isinstance(body, bytes) else (orjson.dumps(body) if body is not None else None)
    sent = {"content-type": "application/json", **headers} if content is not None else headers
    response = client.request(method, path, content=content, headers=sent)
    kept = {name: response.headers[name] for name in _COMPARED_HEADERS if name in response.headers}
    return Answer(response.status_code, kept, response.content)


def _expect(answers: dict[str, Answer], case: str, status: int, code: str | None = None) -> None:
    answer = answers[case]
    assert answer.status == status, f"{case}: HTTP {answer.status}, expected {status}: {answer.body[:300]!r}"
    if code is not None:
        error = answer.json()["error"]
        assert error["code"] == code and error["message"], f"{case}: {error}"


def _single_model(url: str, bundle: Bundle) -> dict[str, Answer]:
    auth = {"x-api-key": KEY}
    texts = [t for t, _ in TINY_TEXTS[:2]]
    name, version = bundle.manifest.name, bundle.manifest.version
    with httpx.Client(base_url=url, timeout=60) as client:
        return single_model_v2(client, _ask, name, version, texts, KEY) | {
            "classify": _ask(client, "POST", "/v1/classify", body={"texts": texts, "return_scores": True}, **auth),
            "classify_one": _ask(client, "POST", "/v1/classify", body={"text": texts[0], "lang": "en-GB"}, **auth),
            "models": _ask(client, "GET", "/v1/models", **auth),
            "healthz": _ask(client, "GET", "/healthz"),
            "readyz": _ask(client, "GET", "/readyz"),
            "openapi": _ask(client, "GET", "/openapi.json"),
            "400_invalid_json": _ask(client, "POST", "/v1/classify", body=b"{not json", **auth),
            "401_no_key": _ask(client, "POST", "/v1/classify", body={"text": "my card"}),
            "401_wrong_key": _ask(client, "GET", "/v1/models", **{"x-api-key": "wrong"}),
            "404_no_route": _ask(client, "GET", "/no/such/route"),
            "405_wrong_method": _ask(client, "GET", "/v1/classify", **auth),
            "413_too_many_texts": _ask(client, "POST", "/v1/classify", body={"texts": ["a"] * 4}, **auth),
            "413_text_too_long": _ask(client, "POST", "/v1/classify", body={"text": "x" * 51}, **auth),
            "413_body_too_large": _ask(client, "POST", "/v1/classify", body={"text": "x" * 300}, **auth),
            "422_empty_texts": _ask(client, "POST", "/v1/classify", body={"texts": []}, **auth),
            "422_unknown_field": _ask(client, "POST", "/v1/classify", body={"texts": ["a"], "x": 1}, **auth),
            # another task's endpoint on a classifier: 409 with one line naming the right endpoint
            "409_entities_on_classifier": _ask(client, "POST", "/v1/entities", body={"texts": texts[:1]}, **auth),
            "409_embed_on_classifier": _ask(client, "POST", "/v1/embed", body={"text": texts[0]}, **auth),
            # three texts are within max_texts_per_request (3) but beyond max_queue (2)
            "503_queue_full": _ask(client, "POST", "/v1/classify", body={"texts": ["a", "b", "c"]}, **auth),
        }


def _check_single_model(answers: dict[str, Answer], bundle: Bundle) -> None:
    predictor = load_predictor(bundle.path)
    texts = [t for t, _ in TINY_TEXTS[:2]]
    _expect(answers, "classify", 200)
    document = answers["classify"].json()
    assert (document["model"], document["version"]) == (bundle.manifest.name, bundle.manifest.version)
    assert [p["label"] for p in document["predictions"]] == [label for label, _ in predictor.predict(texts)]
    assert {p["lang"] for p in document["predictions"]} == {"en"}  # the model's only language
    assert all(set(p["scores"]) == set(predictor.labels) for p in document["predictions"])
    one = answers["classify_one"].json()["predictions"]
    # a request's lang is answered normalised against the model's languages ("en-GB" -> "en"; unknown: "other")
    assert len(one) == 1 and one[0]["lang"] == "en" and "scores" not in one[0]
    models = answers["models"].json()["models"]
    assert [(m["name"], m["version"], m["labels"]) for m in models] == [
        (bundle.manifest.name, bundle.manifest.version, list(predictor.labels))
    ]
    assert answers["healthz"].json() == {"status": "ok"} and answers["readyz"].json() == {"status": "ready"}
    assert set(answers["openapi"].json()["paths"]) >= {"/v1/classify", "/v1/entities", "/v1/embed", "/v1/models"}
    _expect(answers, "400_invalid_json", 400, "invalid_json")
    for case in ("401_no_key", "401_wrong_key"):
        _expect(answers, case, 401, "unauthorized")
        assert answers[case].headers.get("www-authenticate") == "Bearer", case
    _expect(answers, "404_no_route", 404, "not_found")
    _expect(answers, "405_wrong_method", 405, "method_not_allowed")
    assert answers["405_wrong_method"].headers.get("allow") == "POST"
    for case in ("413_too_many_texts", "413_text_too_long", "413_body_too_large"):
        _expect(answers, case, 413, "payload_too_large")
    for case in ("422_empty_texts", "422_unknown_field"):
        _expect(answers, case, 422, "invalid_request")
    for case in ("409_entities_on_classifier", "409_embed_on_classifier"):
        _expect(answers, case, 409, "wrong_task")
        message = answers[case].json()["error"]["message"]
        assert "\n" not in message and "classification model" in message and "/v1/classify" in message, message
    _expect(answers, "503_queue_full", 503, "unavailable")
    assert answers["503_queue_full"].headers.get("retry-after") == "1"
    check_single_model_v2(answers, bundle, list(predictor.labels))


def _model_set_texts() -> list[str]:
    return [TINY_TEXTS[0][0], TINY_GERMAN_TEXTS[6][0], "😀 12345"]


def _model_set(url: str, name: str) -> dict[str, Answer]:
    texts = _model_set_texts()
    with httpx.Client(base_url=url, timeout=60) as client:
        return model_set_v2(client, _ask, name, texts) | {
            "set_classify": _ask(client, "POST", "/v1/classify", body={"texts": texts}),
            "set_classify_lang": _ask(client, "POST", "/v1/classify", body={"texts": texts, "lang": "de-AT"}),
            "set_models": _ask(client, "GET", "/v1/models"),
        }


def _check_model_set(answers: dict[str, Answer], model_set: Bundle, lang: str | None) -> None:
    texts = _model_set_texts()
    predictor = load_predictor(model_set.path)
    if lang is not None:
        predictor = predictor.for_language(lang)
    for case in ("set_classify", "set_classify_lang", "set_models"):
        _expect(answers, case, 200)
    detected = answers["set_classify"].json()["predictions"]
    # a model set says which model answered each text (lang: its language; und: the fallback, as for emoji) and,
    # apart from it, what detection found and how sure it was; one language's model routes nothing
    assert [p["lang"] for p in detected] == (["en", "de", "und"] if lang is None else [lang] * 3)
    assert [p["label"] for p in detected] == [label for label, _ in predictor.predict(texts)]
    if lang is None:
        routing = predictor.route(texts)
        assert routing is not None
        assert [p["detected_lang"] for p in detected] == ["en", "de", "und"] == list(routing.detected)
        assert [p["lang_confidence"] for p in detected] == list(routing.confidence)
        assert detected[2]["lang_confidence"] == 0.0 and 0.5 <= detected[0]["lang_confidence"] <= 1.0
    else:
        assert all("detected_lang" not in p and "lang_confidence" not in p for p in detected)
    # the request's lang routes every text (normalised: "de-AT" -> "de") in a model set, nothing is detected;
    # one language's model answers it normalised too, or as "other" when it serves another language (client
    # labels stay bounded)
    hinted = answers["set_classify_lang"].json()["predictions"]
    assert [p["lang"] for p in hinted] == (["de"] * 3 if lang in (None, "de") else ["other"] * 3)
    if lang is None:
        assert [(p["detected_lang"], p["lang_confidence"]) for p in hinted] == [(None, None)] * 3
    languages = answers["set_models"].json()["models"][0]["languages"]
    assert languages == (["de", "en"] if lang is None else [lang])
    check_model_set_v2(answers)


def check_serving_conformance(front_end: FrontEnd, bundle: Bundle, model_set: Bundle) -> dict[str, Answer]:
    """Run the conformance suite against ``front_end``: three services, every case checked.

    Args:
        front_end: the front end to start the services with.
        bundle: a single-model bundle trained on :data:`~nlpops.testing.TINY_TEXTS` (``tiny_tfidf_bundle``).
        model_set: a model set from :func:`tiny_model_set`.

    Returns:
        Every answer by case name (compare two front ends' answers: they must be identical).

    Raises:
        AssertionError: naming the first case the front end answers against the contract.
    """
    limits = ServingSettings.model_validate(
        {
            "api_keys": [KEY],
            "max_texts_per_request": 3,
            "max_chars_per_text": 50,
            "max_body_bytes": 200,
            "max_queue": 2,
        }
    )
    answers: dict[str, Answer] = {}
    with front_end.serve(str(bundle.path), limits) as url:
        answers.update(_single_model(url, bundle))
    _check_single_model(answers, bundle)
    with front_end.serve(str(model_set.path), ServingSettings()) as url:
        routed = _model_set(url, model_set.manifest.name)
    _check_model_set(routed, model_set, None)
    answers.update(routed)
    with front_end.serve(str(model_set.path), ServingSettings(lang="de")) as url:
        german = _model_set(url, model_set.manifest.name)
    _check_model_set(german, model_set, "de")
    answers.update({f"{case}_one_language": answer for case, answer in german.items()})
    return answers


__all__ = [
    "KEY",
    "TINY_GERMAN_TEXTS",
    "Answer",
    "AsgiFrontEnd",
    "FrontEnd",
    "HttpFrontEnd",
    "RayFrontEnd",
    "check_serving_conformance",
    "live_server",
    "tiny_model_set",
]
