"""The HTTP service: a raw ASGI app with micro-batching, metrics, API keys and hot swap.

``nlpops serve REF`` runs :func:`serve`; tests and embedders use :func:`build_app` with a model source.
"""

from __future__ import annotations

from nlpops.serve.app import ServiceApp
from nlpops.serve.batcher import BatchLimits, MicroBatcher
from nlpops.serve.hooks import HooksFactory, ServiceHooks
from nlpops.serve.metrics import ServiceMetrics
from nlpops.serve.reload import ModelReloader
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
    "HooksFactory",
    "LoadedModel",
    "MicroBatcher",
    "ModelPointer",
    "ModelReloader",
    "ModelSource",
    "ServiceApp",
    "ServiceHooks",
    "ServiceMetrics",
    "build_app",
    "bundle_source",
    "load_model",
    "registry_source",
    "serve",
    "source_for_ref",
]
