"""The ASGI application: a raw ASGI callable with orjson on the hot path (no framework per request).

Routes: ``POST /v1/classify``, ``GET /v1/models``, ``/healthz``, ``/readyz``, ``/metrics``,
``/openapi.json``, ``/docs``; with :class:`~nlpops.serve.hooks.ServiceHooks` (monitoring) also ``GET /`` (status
page) and ``GET /v1/status``. Every error is ``{"error": {"code": ..., "message": ...}}``; errors are
mapped to HTTP status in one place, :meth:`ServiceApp._handle`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np
import orjson

from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.errors import AuthError, NlpopsError, OverloadedError, RequestError
from nlpops.runtimes.langid import bounded_lang
from nlpops.runtimes.router import tag_texts
from nlpops.serve.auth import ApiKeys
from nlpops.serve.batcher import BatchLimits, MicroBatcher
from nlpops.serve.decode import RequestLimits, content_type_of, decode_classify
from nlpops.serve.hooks import HooksFactory, ServiceHooks
from nlpops.serve.metrics import CONTENT_TYPE, ServiceMetrics
from nlpops.serve.openapi import build_openapi, docs_page
from nlpops.serve.reload import ModelReloader
from nlpops.serve.source import LoadedModel

logger = logging.getLogger("nlpops.serve")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_JSON_HEADERS: Headers = [(b"content-type", b"application/json")]
_ERROR_CODES = {
    400: "invalid_json",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "unavailable",
}
_RETRY_AFTER_S = b"1"


class _HttpError(Exception):
    """A routing-level answer (404, 405) that is not an nlpops error."""

    def __init__(self, status: int, message: str, headers: Headers | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


def _predict(model: LoadedModel, texts: list[str]) -> np.ndarray:
    return np.asarray(model.predictor.predict_proba(texts))


def _route(model: LoadedModel, texts: list[str], hint: str | None) -> list[str] | None:
    """The language of each text for a model set (routed per text; ``und`` when unknown), else None."""
    route = getattr(model.predictor, "route", None)
    if route is None:
        return None
    langs: list[str] = route(texts, hint)
    return langs


def _lengths(model: LoadedModel, texts: Any) -> list[int]:
    return model.predictor.text_lengths(texts)


class ServiceApp:
    """The nlpops HTTP service as an ASGI application.

    Args:
        reloader: holds the live model (and follows the source for hot swaps).
        serving: the ``serving`` section (limits, batching, auth).
        monitoring: the ``monitoring`` section (payload logging).
        metrics: the instance's metrics (a new set by default).
        install_signal_handlers: reload on SIGHUP (only in a server's main thread).
        hooks: builds the service hooks (monitoring) from this app; None: no ``/`` and ``/v1/status``.
    """

    def __init__(
        self,
        reloader: ModelReloader,
        serving: ServingSettings,
        monitoring: MonitoringSettings,
        metrics: ServiceMetrics,
        *,
        install_signal_handlers: bool = False,
        hooks: HooksFactory | None = None,
    ) -> None:
        self.reloader = reloader
        self.metrics = metrics
        self.serving = serving
        self._log_payloads = monitoring.log_payloads
        self._redact_payloads = monitoring.pii_redaction
        self._keys = ApiKeys(serving.api_keys)
        self._protect_metrics = serving.protect_metrics
        self._limits = RequestLimits(serving.max_texts_per_request, serving.max_chars_per_text, serving.truncate)
        self.batcher: MicroBatcher[LoadedModel] = MicroBatcher(
            _predict,
            _lengths,
            BatchLimits(serving.max_batch_size, serving.max_wait_ms, serving.max_batch_tokens, serving.max_queue),
            on_batch=self._observe_batch,
            on_queued=metrics.queued_seconds.observe,
        )
        self._install_signal_handlers = install_signal_handlers
        self._label_counters: dict[tuple[str, str], Any] = {}
        self.hooks: ServiceHooks | None = None  # set last: a hooks factory may read the app's attributes
        self.hooks = hooks(self) if hooks is not None else None
        self._openapi = orjson.dumps(
            build_openapi(
                self._limits,
                auth=self._keys.enabled,
                protect_metrics=serving.protect_metrics,
                status_routes=self.hooks is not None,
            )
        )
        self._routes: dict[str, tuple[str, Callable[[Scope, Receive], Awaitable[tuple[int, bytes, Headers]]]]] = {
            "/v1/classify": ("POST", self._classify),
            "/v1/models": ("GET", self._models),
            "/healthz": ("GET", self._healthz),
            "/readyz": ("GET", self._readyz),
            "/metrics": ("GET", self._metrics),
            "/openapi.json": ("GET", self._openapi_json),
            "/docs": ("GET", self._docs),
        }
        if self.hooks is not None:
            self._routes["/"] = ("GET", self._status_page)
            self._routes["/v1/status"] = ("GET", self._status)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._handle(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def startup(self) -> None:
        """Load the first model, start the batcher and the reloader (SIGHUP checks the source at once)."""
        await self.reloader.load_initial()
        self.reloader.start()
        self.batcher.start()
        if self._install_signal_handlers and hasattr(signal, "SIGHUP"):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reloader.request_check)
        if self.hooks is not None:
            self.hooks.start()
        elif self._log_payloads and self._redact_payloads:
            logger.warning(
                "monitoring.log_payloads is on but texts cannot be redacted without monitoring "
                "(monitoring.metrics: true); request texts are not logged."
            )

    async def shutdown(self) -> None:
        """Stop following the source, finish every queued request, then close the hooks (last flush)."""
        if self._install_signal_handlers and hasattr(signal, "SIGHUP"):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        await self.reloader.close()
        await self.batcher.close()
        if self.hooks is not None:
            await asyncio.to_thread(self.hooks.close)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except NlpopsError as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path = scope["path"]
        route = path if path in self._routes else "other"
        extra: Headers = []
        try:
            entry = self._routes.get(path)
            if entry is None:
                raise _HttpError(404, f'No route "{path}". See /docs or /openapi.json for the routes.')
            method, handler = entry
            if scope["method"] != method:
                raise _HttpError(405, f"{path} accepts {method} only.", [(b"allow", method.encode())])
            status, body, headers = await handler(scope, receive)
        except _HttpError as exc:
            status, body, extra = exc.status, _error_body(exc.status, exc.message), exc.headers
            headers = _JSON_HEADERS
        except NlpopsError as exc:
            status = exc.http_status if exc.http_status >= 400 else 500
            body, headers = _error_body(status, exc.message), _JSON_HEADERS
            if isinstance(exc, OverloadedError):
                extra = [(b"retry-after", _RETRY_AFTER_S)]
            elif isinstance(exc, AuthError):
                extra = [(b"www-authenticate", b"Bearer")]
            if status >= 500 and not isinstance(exc, OverloadedError):
                logger.error("Request to %s failed: %s", path, exc)
        except Exception:  # the one place that catches everything: a bug, answered without a traceback
            logger.exception("Unexpected error on %s", path)
            status, headers = 500, _JSON_HEADERS
            body = _error_body(500, "Internal error in the service; it has been logged. Retry, or report it.")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, *extra, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.metrics.count_request(route, status, time.perf_counter() - started)

    def _check_auth(self, scope: Scope) -> None:
        if self._keys.enabled:
            self._keys.check(dict(scope["headers"]))

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.serving.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                raise RequestError(
                    f"The body has {int(value)} bytes; the limit is {limit} (serving.max_body_bytes).", 413
                )
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestError("The client disconnected before sending the whole body.", 400)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestError(f"The body exceeds {limit} bytes (serving.max_body_bytes). Send fewer texts.", 413)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _classify(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Headers]:
        self._check_auth(scope)
        body = await self._read_body(scope, receive)
        request = decode_classify(body, self._limits, content_type_of(scope["headers"]))
        model = self.reloader.current
        if model is None:
            raise OverloadedError("The model is still loading. Retry in a moment (see /readyz).")
        if self._log_payloads:
            self._log_payload(request.lang, request.texts)
        hint = bounded_lang(request.lang, model.predictor.manifest.languages)  # client labels stay bounded
        langs = _route(model, request.texts, hint)
        texts: Sequence[str] = request.texts if langs is None else tag_texts(request.texts, langs)
        proba = await self.batcher.submit(model, texts)
        labels = model.predictor.labels
        lang = hint
        if lang is None and len(model.predictor.manifest.languages) == 1:
            lang = model.predictor.manifest.languages[0]
        if self.hooks is not None:
            self.hooks.observe(request.texts, proba, labels, langs or lang, model.name, model.version)
        best = proba.argmax(axis=1).tolist()
        top = proba[np.arange(len(best)), best].tolist()
        predictions: list[dict[str, Any]] = []
        for row, (index, score) in enumerate(zip(best, top, strict=True)):
            text_lang = lang if langs is None else langs[row]
            prediction: dict[str, Any] = {"label": labels[index], "score": score, "lang": text_lang}
            if request.return_scores:
                prediction["scores"] = dict(zip(labels, proba[row].tolist(), strict=True))
            predictions.append(prediction)
            self._count_label(model.name, labels[index])
        return (
            200,
            orjson.dumps({"model": model.name, "version": model.version, "predictions": predictions}),
            _JSON_HEADERS,
        )

    def _log_payload(self, lang: str | None, texts: list[str]) -> None:
        if self.hooks is not None:
            logger.info("classify lang=%s texts=%s", lang, self.hooks.redact_payload(texts))
        elif not self._redact_payloads:  # redaction needs the monitoring hooks; without them, log nothing
            logger.info("classify lang=%s texts=%s", lang, texts)

    def _count_label(self, model: str, label: str) -> None:
        key = (model, label)
        child = self._label_counters.get(key)
        if child is None:
            child = self.metrics.predictions.labels(model=model, label=label)
            self._label_counters[key] = child
        child.inc()

    async def _models(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Headers]:
        self._check_auth(scope)
        model = self.reloader.current
        models = []
        if model is not None:
            manifest = model.predictor.manifest
            models.append(
                {
                    "name": model.name,
                    "version": model.version,
                    "bundle_version": manifest.version,
                    "family": manifest.family,
                    "runtime": manifest.runtime,
                    "labels": list(model.predictor.labels),
                    "languages": list(manifest.languages),
                }
            )
        return 200, orjson.dumps({"models": models}), _JSON_HEADERS

    async def _healthz(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Headers]:
        return 200, b'{"status":"ok"}', _JSON_HEADERS

    async def _readyz(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Headers]:
        if self.reloader.current is None:
            raise _HttpError(503, "Not ready: the model is still loading. Retry in a moment.")
        return 200, b'{"status":"ready"}', _JSON_HEADERS

    async def _metrics(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Headers]:
        if self._protect_metrics:
            self._check_auth(scope)
        self.metrics.queue_depth.set(self.batcher.queue_depth)
        return 200, self.metrics.render(), [(b"content-type", CONTENT_TYPE.encode())]

    async def _openapi_json(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Headers]:
        return 200, self._openapi, _JSON_HEADERS

    async def _docs(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Headers]:
        return 200, docs_page("nlpops service"), [(b"content-type", b"text/html; charset=utf-8")]

    async def _status_page(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Headers]:
        assert self.hooks is not None  # routed only with hooks
        return 200, self.hooks.page(), [(b"content-type", b"text/html; charset=utf-8")]

    async def _status(self, scope: Scope, receive: Receive) -> tuple[int, bytes, Headers]:
        assert self.hooks is not None  # routed only with hooks
        self._check_auth(scope)
        status = await asyncio.to_thread(self.hooks.status)  # may read the statistics store
        return 200, orjson.dumps(status), _JSON_HEADERS

    def _observe_batch(self, size: int, seconds: float) -> None:
        self.metrics.batch_size.observe(size)
        self.metrics.batch_seconds.observe(seconds)
        self.metrics.queue_depth.set(self.batcher.queue_depth)


def _error_body(status: int, message: str) -> bytes:
    code = _ERROR_CODES.get(status, "internal_error")
    return orjson.dumps({"error": {"code": code, "message": message}})


__all__ = ["ServiceApp"]
