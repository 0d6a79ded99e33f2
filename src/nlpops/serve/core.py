"""The transport-neutral serving core: decode → route → batch → encode, and one error document per failure.

Every front end is a thin adapter over :class:`ServingCore`: the ASGI app (:mod:`nlpops.serve.app`) and the
Ray Serve deployment (:mod:`nlpops.serve.ray`) each wrap their transport's request in an :class:`Exchange`
and call :meth:`ServingCore.handle`. Routing by path and method, API keys, body limits, the model, the
micro-batcher, the hooks (monitoring), metrics and the mapping of errors to HTTP statuses live here, once.

An inference route is an :class:`InferenceEndpoint`: one decoder (body → a request with ``texts`` and
``lang``), one encoder (:class:`Prediction` → body) and the tasks it answers. Everything between them is shared:
the endpoint must fit the live model's task (else 409, one line), the model set routes the texts
(:meth:`~nlpops.runtimes.Predictor.route`), the one batcher batches them with their routing and asks the model
for its task's answer (:func:`~nlpops.runtimes.predict_output`: probabilities, spans or vectors), the hooks
observe the answer. The route table (:mod:`nlpops.serve.routes`) is also the one source of the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import orjson

from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.errors import AuthError, NlpopsError, OverloadedError, RequestError, TaskError
from nlpops.runtimes import RoutingDecision, predict_output
from nlpops.runtimes.langid import bounded_lang
from nlpops.serve.auth import ApiKeys
from nlpops.serve.batcher import BatchLimits, MicroBatcher
from nlpops.serve.decode import RequestLimits, check_content_type, content_type_of
from nlpops.serve.encode import error_document
from nlpops.serve.hooks import Observation, ServiceHooks, is_synthetic
from nlpops.serve.metrics import ServiceMetrics
from nlpops.serve.openapi import build_openapi
from nlpops.serve.paths import PathParams, PathTemplate, match_template
from nlpops.serve.reload import ModelReloader
from nlpops.serve.source import LoadedModel
from nlpops.tasks import TaskName, TaskOutput, predicted_counts, wrong_task_message

logger = logging.getLogger("nlpops.serve")

Headers = list[tuple[bytes, bytes]]
"""HTTP headers as ``(name, value)`` byte pairs; request header names are lower case."""
Reply = tuple[int, bytes, Headers]
"""What a plain route answers: status, body and headers (without content-length)."""

JSON_HEADERS: Headers = [(b"content-type", b"application/json")]
_RETRY_AFTER = (b"retry-after", b"1")
_WWW_AUTHENTICATE = (b"www-authenticate", b"Bearer")


class Exchange(Protocol):
    """One HTTP request and its response, as a front end hands it to the core."""

    method: str
    path: str
    headers: Headers

    async def read_body(self, limit: int) -> bytes:
        """The whole request body.

        Raises:
            RequestError: the body exceeds ``limit`` bytes (:func:`body_too_large`), or the client went away.
        """
        ...

    async def respond(self, status: int, body: bytes, headers: Headers) -> None:
        """Send the response (the front end adds content-length and whatever its transport needs)."""
        ...


class InferenceRequest(Protocol):
    """What a decoder returns: the texts to predict and the request's language hint (more fields may follow)."""

    @property
    def texts(self) -> list[str]: ...

    @property
    def lang(self) -> str | None: ...


R = TypeVar("R", bound=InferenceRequest)


@dataclass
class Prediction(Generic[R]):
    """What an encoder gets: the decoded request, the model that answered and its answer.

    Attributes:
        request: the decoded request.
        model: the model that computed the answer (pinned when the request arrived).
        labels: the model's labels (column order of probabilities; entity types).
        output: the model's answer in its task's form (:data:`~nlpops.tasks.TaskOutput`): probabilities
            ``(len(request.texts), len(labels))`` (classification, multilabel), spans per text (entities),
            vectors (embedding).
        lang: the language of every text when ``routing`` is None (the request's ``lang``, or the model's
            only language, or None).
        routing: how a model set routed each text (its ``langs`` are the per-text languages), else None.
        task: the model's task.
    """

    request: R
    model: LoadedModel
    labels: list[str]
    output: TaskOutput
    lang: str | None
    routing: RoutingDecision | None
    task: TaskName = "classification"

    @property
    def proba(self) -> np.ndarray:
        """The probabilities (classification, multilabel): :attr:`output` as an array."""
        return np.asarray(self.output)

    @cached_property
    def best(self) -> list[int]:
        """The index of the most probable label, per text (classification, multilabel)."""
        best: list[int] = self.proba.argmax(axis=1).tolist()
        return best

    @cached_property
    def top(self) -> list[float]:
        """The probability of the most probable label, per text."""
        top: list[float] = self.proba.max(axis=1).tolist()
        return top

    @property
    def thresholds(self) -> list[float] | None:
        """The per-label thresholds of a multilabel model, else None."""
        return self.model.predictor.thresholds


CLASSIFIERS: tuple[TaskName, ...] = ("classification", "multilabel")


@dataclass(frozen=True)
class InferenceEndpoint(Generic[R]):
    """An inference route's two own stages and the tasks it answers; the core runs everything between them.

    Args:
        decode: ``(body, limits) -> request``; raises :class:`~nlpops.errors.RequestError` for a bad body.
        encode: ``prediction -> response body``.
        tasks: the model tasks whose answers ``encode`` can write; for a model of another task the core
            answers 409 (:class:`~nlpops.errors.TaskError`) once the body is decoded.
        content_type_optional: accept a body sent without a Content-Type (the Open Inference Protocol's
            clients, tritonclient among them, send none); a Content-Type that is not JSON is refused (415) still.
    """

    decode: Callable[[bytes, RequestLimits], R]
    encode: Callable[[Prediction[R]], bytes]
    tasks: tuple[TaskName, ...] = CLASSIFIERS
    content_type_optional: bool = False


class HttpError(Exception):
    """A routing-level answer (404, 405, 503 not ready) that is not an nlpops error."""

    def __init__(self, status: int, message: str, headers: Headers | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


Handler = Callable[["ServingCore", Exchange], Awaitable[Reply]]
"""A plain (non-inference) route: ``(core, exchange) -> (status, body, headers)``."""
ModelHandler = Callable[["ServingCore", Exchange, LoadedModel], Awaitable[Reply]]
"""A plain route whose path names a model: ``(core, exchange, model) -> reply``, ``model`` the one it named."""


@dataclass(frozen=True)
class Route:
    """One route of the service (the table is :func:`nlpops.serve.routes.service_routes`).

    Args:
        path: the exact path, or a template whose ``{model}`` (and ``{version}``) segments name the model
            (the core answers 404 unless they name the live model, and hands that model on).
        method: the one method it accepts (others get 405 with ``Allow``).
        operation_id: its operation in the OpenAPI document (:mod:`nlpops.serve.openapi`); None: undocumented.
        secured: needs an API key when keys are configured.
        metrics: needs an API key when keys are configured and ``serving.protect_metrics`` is on.
        endpoint: an inference route's decoder and encoder.
        handler: a plain route's handler (exactly one of ``endpoint``, ``handler`` and ``model_handler``).
        model_handler: a plain template route's handler; it gets the model its path named.
        error_body: the error document of the route's protocol: ``(status, message) -> body``.
    """

    path: str
    method: str
    operation_id: str | None
    secured: bool = False
    metrics: bool = False
    endpoint: InferenceEndpoint[Any] | None = None
    handler: Handler | None = None
    model_handler: ModelHandler | None = None
    error_body: Callable[[int, str], bytes] = error_document


def body_too_large(limit: int, size: int | None = None) -> RequestError:
    """The 413 error for a body over ``serving.max_body_bytes`` (``size`` when the client announced it)."""
    if size is not None:
        return RequestError(f"The body has {size} bytes; the limit is {limit} (serving.max_body_bytes).", 413)
    return RequestError(f"The body exceeds {limit} bytes (serving.max_body_bytes). Send fewer texts.", 413)


def _predict(model: LoadedModel, texts: list[str], routing: RoutingDecision | None) -> TaskOutput:
    return predict_output(model.predictor, texts, routing)


def _lengths(model: LoadedModel, texts: Any) -> list[int]:
    return model.predictor.text_lengths(texts)


class ServingCore:
    """The service, independent of any transport.

    Args:
        reloader: holds the live model (and follows the source for hot swaps).
        serving: the ``serving`` section (limits, batching, auth).
        monitoring: the ``monitoring`` section (payload logging).
        metrics: the instance's metrics.
        routes: the route table (:func:`nlpops.serve.routes.service_routes`); also the OpenAPI document's paths.
        hooks: the service hooks (monitoring), built over this service's view; None: none.
    """

    def __init__(
        self,
        reloader: ModelReloader,
        serving: ServingSettings,
        monitoring: MonitoringSettings,
        metrics: ServiceMetrics,
        routes: Sequence[Route],
        *,
        hooks: ServiceHooks | None = None,
    ) -> None:
        self.reloader = reloader
        self.metrics = metrics
        self.serving = serving
        self._log_payloads = monitoring.log_payloads
        self._redact_payloads = monitoring.pii_redaction
        self.keys = ApiKeys(serving.api_keys)
        self._protect_metrics = serving.protect_metrics and self.keys.enabled
        self.limits = RequestLimits(serving.max_texts_per_request, serving.max_chars_per_text, serving.truncate)
        self.batcher: MicroBatcher[LoadedModel, TaskOutput] = MicroBatcher(
            _predict,
            _lengths,
            BatchLimits(serving.max_batch_size, serving.max_wait_ms, serving.max_batch_tokens, serving.max_queue),
            on_batch=self._observe_batch,
            on_queued=metrics.queued_seconds.observe,
        )
        self._label_counters: dict[tuple[str, str], Any] = {}
        self.hooks = hooks
        self.route_table = list(routes)
        self.routes: dict[str, Route] = {route.path: route for route in routes if "{" not in route.path}
        self._templates = [(PathTemplate.parse(route.path), route) for route in routes if "{" in route.path]
        self.openapi = orjson.dumps(
            build_openapi(self.limits, auth=self.keys.enabled, protect_metrics=serving.protect_metrics, routes=routes)
        )

    async def startup(self) -> None:
        """Load the first model, start the batcher and the reloader, then the hooks."""
        await self.reloader.load_initial()
        self.reloader.start()
        self.batcher.start()
        if self.hooks is not None:
            self.hooks.start()
        elif self._log_payloads and self._redact_payloads:
            logger.warning(
                "monitoring.log_payloads is on but texts cannot be redacted without monitoring "
                "(monitoring.metrics: true); request texts are not logged."
            )

    async def shutdown(self) -> None:
        """Stop following the source, finish every queued request, then close the hooks (last flush)."""
        await self.reloader.close()
        await self.batcher.close()
        if self.hooks is not None:
            await asyncio.to_thread(self.hooks.close)

    async def handle(self, exchange: Exchange) -> None:
        """Answer one request: route, check the key, run the route, map any error to its status and body.

        Every failure is answered with the route's error document (never a traceback); the request is
        counted in the metrics after the response was sent.
        """
        started = time.perf_counter()
        path = exchange.path
        route = self.routes.get(path)
        params: PathParams | None = None
        if route is None and self._templates:
            route, params = match_template(self._templates, path)
        error_body = route.error_body if route is not None else error_document
        synthetic = False
        extra: Headers = []
        try:
            if route is None:
                raise HttpError(404, f'No route "{path}". See /docs or /openapi.json for the routes.')
            if exchange.method != route.method:
                raise HttpError(405, f"{path} accepts {route.method} only.", [(b"allow", route.method.encode())])
            if route.secured or (route.metrics and self._protect_metrics):
                self.check_key(exchange.headers)
            if route.endpoint is not None:
                synthetic = is_synthetic(exchange.headers)
                body = await self._infer(route, route.endpoint, exchange, params, synthetic)
                status, headers = 200, JSON_HEADERS
            elif route.model_handler is not None:
                status, body, headers = await route.model_handler(self, exchange, self.select_model(params or {}))
            else:
                assert route.handler is not None  # a route has an endpoint or a handler
                status, body, headers = await route.handler(self, exchange)
        except HttpError as exc:
            status, extra, headers = exc.status, exc.headers, JSON_HEADERS
            body = error_body(status, exc.message)
        except NlpopsError as exc:
            status = exc.http_status if exc.http_status >= 400 else 500
            body, headers = error_body(status, exc.message), JSON_HEADERS
            if isinstance(exc, OverloadedError):
                extra = [_RETRY_AFTER]
            elif isinstance(exc, AuthError):
                extra = [_WWW_AUTHENTICATE]
            if status >= 500 and not isinstance(exc, OverloadedError):
                logger.error("Request to %s failed: %s", path, exc)
        except Exception:  # the one place that catches everything: a bug, answered without a traceback
            logger.exception("Unexpected error on %s", path)
            status, headers = 500, JSON_HEADERS
            body = error_body(500, "Internal error in the service; it has been logged. Retry, or report it.")
        await exchange.respond(status, body, [*headers, *extra] if extra else headers)
        label = route.path if route is not None else "other"  # a template, never the client's path
        self.metrics.count_request(label, status, time.perf_counter() - started)
        if synthetic:
            self.metrics.count_synthetic(label, status)

    def select_model(self, params: PathParams) -> LoadedModel:
        """The live model, if it is the one ``params`` name (``model``, and ``version`` when given).

        Raises:
            OverloadedError: no model is loaded yet (503).
            HttpError: 404, the path names another model or version.
        """
        model = self.reloader.current
        if model is None:
            raise OverloadedError("The model is still loading. Retry in a moment (see /readyz).")
        name, version = params.get("model"), params.get("version")
        if name != model.name:
            raise HttpError(404, f'Unknown model "{name}": this service serves "{model.name}".')
        if version is not None and version != model.version:
            raise HttpError(
                404, f'Model "{name}" has no version "{version}" being served: it serves version "{model.version}".'
            )
        return model

    def check_key(self, headers: Headers) -> None:
        """Accept the request if it carries a valid API key (or if keys are off).

        Raises:
            AuthError: no key or a wrong one (401).
        """
        if self.keys.enabled:
            self.keys.check(dict(headers))

    async def read_body(self, exchange: Exchange) -> bytes:
        """The request body, refused (413) beyond ``serving.max_body_bytes`` before it is read when announced."""
        limit = self.serving.max_body_bytes
        for name, value in exchange.headers:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise body_too_large(limit, int(value))
        return await exchange.read_body(limit)

    async def _infer(
        self,
        route: Route,
        endpoint: InferenceEndpoint[Any],
        exchange: Exchange,
        params: PathParams | None,
        synthetic: bool,
    ) -> bytes:
        """(select the model the path names →) decode → check the task → route → batch → observe → encode."""
        named = self.select_model(params) if params is not None else None  # an unknown model: 404 before the body
        content_type = content_type_of(exchange.headers)
        if content_type is not None or not endpoint.content_type_optional:
            check_content_type(content_type)
        request = endpoint.decode(await self.read_body(exchange), self.limits)
        model = named if named is not None else self.reloader.current
        if model is None:
            raise OverloadedError("The model is still loading. Retry in a moment (see /readyz).")
        predictor = model.predictor
        if predictor.task not in endpoint.tasks:
            raise TaskError(
                wrong_task_message(exchange.path, model.name, model.version, predictor.task, endpoint.tasks)
            )
        texts = request.texts
        lang = bounded_lang(request.lang, predictor.manifest.languages)  # client labels stay bounded
        if self._log_payloads:
            self._log_payload(lang, texts)
        task = predictor.task
        routing = predictor.route(texts, lang)
        output = await self.batcher.submit(model, texts, routing)
        labels = predictor.labels
        if lang is None and routing is None:
            languages = predictor.manifest.languages
            if len(languages) == 1:
                lang = languages[0]
        prediction = Prediction(request, model, labels, output, lang, routing, task)
        if self.hooks is not None:
            langs = routing.langs if routing is not None else lang
            observation = Observation(
                texts, output, labels, langs, model.name, model.version, task, predictor.thresholds, synthetic
            )
            self.hooks.observe(observation)
        self._count_labels(prediction)
        return endpoint.encode(prediction)

    def _log_payload(self, lang: str | None, texts: list[str]) -> None:
        if self.hooks is not None:
            logger.info("classify lang=%s texts=%s", lang, self.hooks.redact_payload(texts))
        elif not self._redact_payloads:  # redaction needs the monitoring hooks; without them, log nothing
            logger.info("classify lang=%s texts=%s", lang, texts)

    def _count_labels(self, prediction: Prediction[Any]) -> None:
        """Count the predicted labels (``nlpops_predictions_total``): the best label of each text for a
        classifier, every label reaching its threshold (multilabel), every entity's type."""
        model, labels = prediction.model.name, prediction.labels
        counters = self._label_counters
        if prediction.task == "classification":
            pairs = [(index, 1) for index in prediction.best]
        else:
            counts, _ = predicted_counts(prediction.task, prediction.output, labels, prediction.thresholds)
            totals = counts.sum(axis=0)
            pairs = [(int(i), int(totals[i])) for i in np.flatnonzero(totals)]
        for index, amount in pairs:
            key = (model, labels[index])
            child = counters.get(key)
            if child is None:
                child = counters[key] = self.metrics.predictions.labels(model=model, label=labels[index])
            child.inc(amount)

    def _observe_batch(self, size: int, seconds: float) -> None:
        self.metrics.batch_size.observe(size)
        self.metrics.batch_seconds.observe(seconds)
        self.metrics.queue_depth.set(self.batcher.queue_depth)


__all__ = [
    "CLASSIFIERS",
    "JSON_HEADERS",
    "Exchange",
    "Handler",
    "Headers",
    "HttpError",
    "InferenceEndpoint",
    "InferenceRequest",
    "ModelHandler",
    "Prediction",
    "Reply",
    "Route",
    "ServingCore",
    "body_too_large",
]
