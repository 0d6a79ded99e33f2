"""nlpops: bring NLP text models to production and keep them there.

The first hour, in Python::

    import nlpops
    result = nlpops.train("my_tickets.csv", name="intents", register=True)  # text,label rows -> TrainResult
    predictor = nlpops.load("intents:1")                                    # -> Predictor
    predictor.predict(["my card does not work"])                            # [(label, probability)]
    nlpops.evaluate("intents:1", "my_holdout.csv")                          # metrics as a dict
    nlpops.package("my_hf_model/", name="tickets")                          # a model you already have
    nlpops.Client("http://127.0.0.1:8000").classify(["my card does not work"])  # ask a running service

:func:`train` a model from a dataset or :func:`package` one a team already has, :func:`load` one as a
:class:`Predictor`, :func:`evaluate` it; :class:`Client` (and :class:`AsyncClient`) asks a running service;
:func:`load_bundle` and :func:`load_config` read a bundle folder and an nlpops.yaml. Also importable from
here, documented on their own (``help(nlpops.NlpopsConfig)``): ``NlpopsConfig`` (every setting), ``Bundle``
and ``BundleManifest`` (a bundle on disk, what it records) and ``NlpopsError`` (the base of every error nlpops
raises). Everything else is reached through the CLI (``nlpops --help``). Attributes are imported lazily so
that ``import nlpops`` stays cheap on the serving path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nlpops._version import __version__

if TYPE_CHECKING:
    from nlpops.api import PackageResult as PackageResult
    from nlpops.api import TrainResult, evaluate, load, package, train
    from nlpops.bundle import Bundle as Bundle
    from nlpops.bundle import BundleManifest as BundleManifest
    from nlpops.bundle import load_bundle
    from nlpops.checklist import NlpopsConfig as NlpopsConfig
    from nlpops.checklist import load_config
    from nlpops.client import AsyncClient, Client
    from nlpops.errors import NlpopsError as NlpopsError
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

__all__ = [  # what help(nlpops) documents: the first hour; _EXPORTS has the rest
    "AsyncClient",
    "Client",
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
    return sorted({*__all__, *_EXPORTS})
