"""The route table of the service: one list that the core routes by and the OpenAPI document is built from.

A :class:`~nlpops.serve.core.Route` is a path and a method with either an
:class:`~nlpops.serve.core.InferenceEndpoint` (a decoder and an encoder; the core runs route → batch →
observe between them) or a plain handler. Adding an endpoint (a task, a protocol) is one more entry in
:func:`service_routes` with its decoder and encoder, and its operation in :mod:`nlpops.serve.openapi`.
:func:`build_core` assembles a service's core; every front end starts from it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.serve.core import Exchange, HttpError, InferenceEndpoint, Reply, Route, ServingCore
from nlpops.serve.decode import ClassifyRequest, EmbedRequest, TextsRequest, decode_classify, decode_embed, decode_plain
from nlpops.serve.encode import encode_classify, encode_embed, encode_entities, models_document
from nlpops.serve.hooks import HooksFactory, ServiceView
from nlpops.serve.metrics import CONTENT_TYPE, ServiceMetrics
from nlpops.serve.openapi import docs_page
from nlpops.serve.reload import ModelReloader
from nlpops.serve.v2 import v2_routes
from nlpops.tasks import tasks_of_endpoint

_JSON: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
_HTML: list[tuple[bytes, bytes]] = [(b"content-type", b"text/html; charset=utf-8")]
_METRICS: list[tuple[bytes, bytes]] = [(b"content-type", CONTENT_TYPE.encode())]

CLASSIFY: InferenceEndpoint[ClassifyRequest] = InferenceEndpoint(
    decode_classify, encode_classify, tasks=tasks_of_endpoint("/v1/classify")
)
"""``POST /v1/classify`` (classification and multilabel models): :func:`~nlpops.serve.decode.decode_classify`
and :func:`~nlpops.serve.encode.encode_classify`."""
ENTITIES: InferenceEndpoint[TextsRequest] = InferenceEndpoint(
    decode_plain, encode_entities, tasks=tasks_of_endpoint("/v1/entities")
)
"""``POST /v1/entities`` (entity models)."""
EMBED: InferenceEndpoint[EmbedRequest] = InferenceEndpoint(
    decode_embed, encode_embed, tasks=tasks_of_endpoint("/v1/embed")
)
"""``POST /v1/embed`` (embedding models)."""
TASK_ENDPOINTS: dict[str, tuple[str, InferenceEndpoint[Any]]] = {
    "/v1/classify": ("classify", CLASSIFY),
    "/v1/entities": ("entities", ENTITIES),
    "/v1/embed": ("embed", EMBED),
}
"""The serving layer's per-task piece: each task's endpoint (``TASKS[task].endpoint``) with its OpenAPI
operation and its decoder and encoder. Every endpoint is served whatever the model; one that does not fit
the live model's task answers 409."""


async def _models(core: ServingCore, exchange: Exchange) -> Reply:
    return 200, models_document(core.reloader.current), _JSON


async def _healthz(core: ServingCore, exchange: Exchange) -> Reply:
    return 200, b'{"status":"ok"}', _JSON


async def _readyz(core: ServingCore, exchange: Exchange) -> Reply:
    if core.reloader.current is None:
        raise HttpError(503, "Not ready: the model is still loading. Retry in a moment.")
    return 200, b'{"status":"ready"}', _JSON


async def _metrics(core: ServingCore, exchange: Exchange) -> Reply:
    core.metrics.queue_depth.set(core.batcher.queue_depth)
    return 200, core.metrics.render(), _METRICS


async def _openapi(core: ServingCore, exchange: Exchange) -> Reply:
    return 200, core.openapi, _JSON


async def _docs(core: ServingCore, exchange: Exchange) -> Reply:
    return 200, docs_page("nlpops service"), _HTML


async def _status_page(core: ServingCore, exchange: Exchange) -> Reply:
    assert core.hooks is not None  # routed only with hooks
    return 200, core.hooks.page(), _HTML


async def _status(core: ServingCore, exchange: Exchange) -> Reply:
    assert core.hooks is not None  # routed only with hooks
    status = await asyncio.to_thread(core.hooks.status)  # may read the statistics store
    return 200, orjson.dumps(status), _JSON


def service_routes(*, status_routes: bool = False) -> list[Route]:
    """The routes of the service.

    Args:
        status_routes: add ``GET /`` (status page) and ``GET /v1/status`` (the service has hooks).

    Returns:
        ``/v1/classify``, ``/v1/entities``, ``/v1/embed`` (:data:`TASK_ENDPOINTS`), ``/v1/models``,
        ``/healthz``, ``/readyz``, ``/metrics``, ``/openapi.json``, ``/docs``, the Open Inference Protocol's ``/v2``
        routes (:func:`nlpops.serve.v2.v2_routes`) and the status routes.
    """
    routes = [
        Route(path, "POST", operation, secured=True, endpoint=endpoint)
        for path, (operation, endpoint) in TASK_ENDPOINTS.items()
    ]
    routes += [
        Route("/v1/models", "GET", "models", secured=True, handler=_models),
        Route("/healthz", "GET", "healthz", handler=_healthz),
        Route("/readyz", "GET", "readyz", handler=_readyz),
        Route("/metrics", "GET", "metrics", metrics=True, handler=_metrics),
        Route("/openapi.json", "GET", None, handler=_openapi),
        Route("/docs", "GET", None, handler=_docs),
        *v2_routes(),
    ]
    if status_routes:
        routes.append(Route("/", "GET", "status_page", handler=_status_page))
        routes.append(Route("/v1/status", "GET", "status", secured=True, handler=_status))
    return routes


def build_core(
    reloader: ModelReloader,
    serving: ServingSettings,
    monitoring: MonitoringSettings,
    metrics: ServiceMetrics,
    *,
    hooks: HooksFactory | None = None,
) -> ServingCore:
    """The serving core of one service instance, with its hooks and its routes.

    Args:
        reloader: holds the live model.
        serving: the ``serving`` section.
        monitoring: the ``monitoring`` section.
        metrics: the instance's metrics.
        hooks: builds the service hooks from the service's view (the live model and the metrics registry);
            with hooks the status routes are served.

    Returns:
        The core; a front end calls its ``startup``, ``handle`` and ``shutdown``.
    """
    built = hooks(ServiceView(lambda: reloader.current, metrics.registry)) if hooks is not None else None
    routes = service_routes(status_routes=built is not None)
    return ServingCore(reloader, serving, monitoring, metrics, routes, hooks=built)


__all__ = ["CLASSIFY", "EMBED", "ENTITIES", "TASK_ENDPOINTS", "build_core", "service_routes"]
