"""A service with monitoring, without changing the service: an ASGI wrapper around ``ServiceApp``.

It adds ``GET /`` (status page) and ``GET /v1/status`` (JSON), observes ``POST /v1/classify`` from the
request texts and the answered labels and scores, and starts/stops the monitor with the app's lifespan.
When the serve layer calls :meth:`ServiceMonitor.observe` itself, use ``observe_classify=False``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import orjson

from nlpops.errors import NlpopsError
from nlpops.monitor.drift import DriftThresholds
from nlpops.monitor.live import LiveStats
from nlpops.monitor.service import ServedModel, ServiceMonitor
from nlpops.serve import ServiceApp
from nlpops.serve.app import Receive, Scope, Send
from nlpops.serve.auth import ApiKeys

logger = logging.getLogger("nlpops.monitor")


class MonitoredApp:
    """``app`` plus the status page, the status JSON and live statistics.

    Args:
        app: the service.
        monitor: the monitor (its ``current_model`` should read ``app.reloader.current``; see :func:`monitor_app`).
        observe_classify: observe classify requests here (off when the service calls the observer itself).
    """

    def __init__(self, app: ServiceApp, monitor: ServiceMonitor, *, observe_classify: bool = True) -> None:
        self.app = app
        self.monitor = monitor
        self.observe_classify = observe_classify
        self._keys = ApiKeys(app.serving.api_keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path == "/" and method == "GET":
            await _answer(send, 200, self.monitor.page(), b"text/html; charset=utf-8")
        elif path == "/v1/status" and method == "GET":
            await self._status(scope, send)
        elif path == "/v1/classify" and self.observe_classify:
            await self._classify(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        async def wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.monitor.start()
            elif message["type"] == "lifespan.shutdown.complete":
                self.monitor.close()
            await send(message)

        return wrapped

    async def _status(self, scope: Scope, send: Send) -> None:
        try:
            if self._keys.enabled:
                self._keys.check(dict(scope["headers"]))
            body, status = orjson.dumps(self.monitor.status()), 200
        except NlpopsError as exc:
            status = exc.http_status if exc.http_status >= 400 else 500
            body = orjson.dumps({"error": {"code": "status_unavailable", "message": exc.message}})
        await _answer(send, status, body, b"application/json")

    async def _classify(self, scope: Scope, receive: Receive, send: Send) -> None:
        request: list[bytes] = []
        response: list[bytes] = []
        status = 0

        async def tap_receive() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                request.append(message.get("body", b""))
            return message

        async def tap_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                response.append(message.get("body", b""))
            await send(message)

        await self.app(scope, tap_receive, tap_send)
        if status == 200:
            self._observe(b"".join(request), b"".join(response))

    def _observe(self, request: bytes, response: bytes) -> None:
        model = self.app.reloader.current
        try:
            asked = orjson.loads(request)
            answer = orjson.loads(response)
        except orjson.JSONDecodeError:  # answered 200, so both parsed in the service; never fail a request here
            return
        texts = asked["texts"] if "texts" in asked else [asked.get("text", "")]
        predictions = answer["predictions"]
        if model is None or model.version != answer["version"] or len(texts) != len(predictions):
            return
        labels = model.predictor.labels
        index = {label: i for i, label in enumerate(labels)}
        self.monitor.live.observe_top(
            np.fromiter(map(len, texts), dtype=np.float64, count=len(texts)),
            np.fromiter((index[p["label"]] for p in predictions), dtype=np.int64, count=len(predictions)),
            np.fromiter((p["score"] for p in predictions), dtype=np.float64, count=len(predictions)),
            labels,
            [p.get("lang") for p in predictions],
            answer["model"],
            answer["version"],
            texts=texts,
        )


async def _answer(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def current_model_of(app: ServiceApp) -> ServedModel | None:
    """The model ``app`` serves now, as the monitor sees it (None while loading).

    Args:
        app: the service.

    Returns:
        Name, version and manifest of the live model.
    """
    loaded = app.reloader.current
    if loaded is None:
        return None
    return ServedModel(loaded.name, loaded.version, loaded.predictor.manifest)


def monitor_app(app: ServiceApp, live: LiveStats | None = None, **monitor_options: Any) -> MonitoredApp:
    """Wrap ``app`` with monitoring: live statistics, drift gauges on its metrics, the status page.

    Args:
        app: the service.
        live: the live statistics (in memory only by default).
        **monitor_options: passed to :class:`ServiceMonitor` (``thresholds``, ``window_s``, ...).

    Returns:
        The wrapped ASGI app.
    """
    options = dict(monitor_options)
    thresholds = options.pop("thresholds", None)
    monitor = ServiceMonitor(
        live if live is not None else LiveStats(None),
        thresholds or DriftThresholds(),
        lambda: current_model_of(app),
        metrics_registry=app.metrics.registry,
        **options,
    )
    return MonitoredApp(app, monitor)


__all__ = ["MonitoredApp", "current_model_of", "monitor_app"]
