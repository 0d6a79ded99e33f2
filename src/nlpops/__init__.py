"""nlpops: bring NLP text models to production and keep them there.

The public Python API is small: :func:`load` a model as a :class:`Predictor`, :func:`train` one from a
dataset or :func:`package` one a team already has, :func:`evaluate` it; :class:`Client` (and
:class:`AsyncClient`) asks a running service. Everything else is reached through the CLI (``nlpops --help``).
Attributes are imported lazily so that ``import nlpops`` stays cheap on the serving path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nlpops._version import __version__

if TYPE_CHECKING:
    from nlpops.api import PackageResult, TrainResult, evaluate, load, package, train
    from nlpops.bundle import Bundle, BundleManifest, load_bundle
    from nlpops.checklist import NlpopsConfig, load_config
    from nlpops.client import AsyncClient, Client
    from nlpops.errors import NlpopsError
    from nlpops.runtimes import Predictor

_EXPORTS = {
    "load": "nlpops.api",
    "train": "nlpops.api",
    "evaluate": "nlpops.api",
    "package": "nlpops.api",
    "TrainResult": "nlpops.api",
    "PackageResult": "nlpops.api",
    "Predictor": "nlpops.runtimes",
    "Bundle": "nlpops.bundle",
    "BundleManifest": "nlpops.bundle",
    "load_bundle": "nlpops.bundle",
    "NlpopsConfig": "nlpops.checklist",
    "load_config": "nlpops.checklist",
    "NlpopsError": "nlpops.errors",
    "Client": "nlpops.client",
    "AsyncClient": "nlpops.client",
}

__all__ = [
    "AsyncClient",
    "Bundle",
    "BundleManifest",
    "Client",
    "NlpopsConfig",
    "NlpopsError",
    "PackageResult",
    "Predictor",
    "TrainResult",
    "__version__",
    "evaluate",
    "load",
    "load_bundle",
    "load_config",
    "package",
    "train",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nlpops' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
