"""The HTTP service: a transport-neutral serving core, its ASGI front end, micro-batching, metrics, API keys, hot swap.

``nlpops serve REF`` runs :func:`serve`; tests and embedders use :func:`build_app` with a model source. The
core (:class:`ServingCore`: decode → route → batch → encode → error document) is shared by every front end:
the ASGI app (:class:`ServiceApp`) and the Ray Serve deployment (:mod:`nlpops.serve.ray`).
"""

from __future__ import annotations

from nlpops.serve.app import ServiceApp
from nlpops.serve.batcher import BatchLimits, MicroBatcher
from nlpops.serve.core import Exchange, InferenceEndpoint, Prediction, Route, ServingCore
from nlpops.serve.hooks import HooksFactory, Langs, Observation, ServiceHooks, ServiceView
from nlpops.serve.metrics import ServiceMetrics
from nlpops.serve.reload import ModelReloader
from nlpops.serve.routes import build_core, service_routes
from nlpops.serve.server import build_app, serve
from nlpops.serve.source import (
    LoadedModel,
    ModelPointer,
    ModelSource,
    bundle_source,
    load_model,
    registry_source,
    source_for_ref,
)

__all__ = [
    "BatchLimits",
    "Exchange",
    "HooksFactory",
    "InferenceEndpoint",
    "Langs",
    "LoadedModel",
    "MicroBatcher",
    "ModelPointer",
    "ModelReloader",
    "ModelSource",
    "Observation",
    "Prediction",
    "Route",
    "ServiceApp",
    "ServiceHooks",
    "ServiceMetrics",
    "ServiceView",
    "ServingCore",
    "build_app",
    "build_core",
    "bundle_source",
    "load_model",
    "registry_source",
    "serve",
    "service_routes",
    "source_for_ref",
]
