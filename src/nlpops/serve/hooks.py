"""Service hooks: how a layer above serving (monitoring) plugs into the service without being imported by it.

A hooks factory gets a :class:`ServiceView` (the live model and the metrics registry: nothing else of the
service) and returns a :class:`ServiceHooks`. The service then calls :meth:`~ServiceHooks.observe` with one
:class:`Observation` per answered inference request (after the prediction), serves
:meth:`~ServiceHooks.page` at ``GET /`` and :meth:`~ServiceHooks.status` at ``GET /v1/status``, calls
:meth:`~ServiceHooks.start` once the model is loaded and :meth:`~ServiceHooks.close` at shutdown.

``nlpops serve`` names the hooks by a dotted path (``"package.module:function"``, resolved with importlib),
so worker processes started by uvicorn can build the same hooks from an environment variable.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from nlpops.errors import ConfigError
from nlpops.tasks import TaskName, TaskOutput

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from nlpops.checklist import MonitoringSettings, RegistrySettings
    from nlpops.serve.source import LoadedModel

SYNTHETIC_HEADER = b"x-nlpops-synthetic"
"""The request header that marks synthetic traffic (``nlpops loadtest`` sends ``x-nlpops-synthetic: 1``)."""


def is_synthetic(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """Whether a request's headers (lower-case names) mark it synthetic: ``x-nlpops-synthetic: 1`` (or ``true``)."""
    for name, value in headers:
        if name == SYNTHETIC_HEADER:
            return value.strip().lower() in (b"1", b"true")
    return False


Langs = Sequence[str | None] | str | None
"""The language of each text (one per text), one language for all texts, or None (unknown)."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One answered inference request, as the service hands it to its hooks.

    Args:
        texts: the texts as received.
        output: the model's answer in its task's form (:data:`~nlpops.tasks.TaskOutput`): probabilities of
            shape ``(len(texts), len(labels))`` for classification and multilabel, spans per text, vectors.
        labels: the model's labels (the column order of probabilities; entity types).
        langs: the language each text was answered as: one per text (a model set routes each text), one
            for all (a request's ``lang``, or a single-language model's language), or None (unknown).
        model: the served model's name.
        version: the served version, as the service reports it.
        task: the model's task.
        thresholds: the per-label thresholds of a multilabel model, else None.
        synthetic: the request was marked synthetic (``x-nlpops-synthetic: 1``, sent by ``nlpops loadtest``);
            monitoring leaves it out of the drift statistics unless ``monitoring.count_synthetic``.
    """

    texts: Sequence[str]
    output: TaskOutput
    labels: Sequence[str]
    langs: Langs
    model: str
    version: str
    task: TaskName = "classification"
    thresholds: Sequence[float] | None = None
    synthetic: bool = False

    @property
    def proba(self) -> np.ndarray:
        """The probabilities of a classification or multilabel model (:attr:`output` as an array)."""
        return np.asarray(self.output)

    def langs_per_text(self) -> Sequence[str | None]:
        """:attr:`langs` as one entry per text."""
        if self.langs is None or isinstance(self.langs, str):
            return [self.langs] * len(self.texts)
        return self.langs


@dataclass(frozen=True)
class ServiceView:
    """What hooks see of a service: its live model and its metrics registry, nothing else.

    Args:
        current_model: the model answering now (None while the first one loads).
        metrics_registry: the service's Prometheus registry (hooks may add metrics and read them).
    """

    current_model: Callable[[], LoadedModel | None]
    metrics_registry: CollectorRegistry


@runtime_checkable
class ServiceHooks(Protocol):
    """What the service calls on its hooks. Methods must not raise on the hot path (``observe``)."""

    def observe(self, observation: Observation) -> None:
        """Count one answered inference request (cheap: called on the event loop)."""

    def status(self) -> dict[str, Any]:
        """The ``GET /v1/status`` document (called in a worker thread: it may read files)."""

    def page(self) -> bytes:
        """The HTML of ``GET /``."""

    def redact_payload(self, texts: Sequence[str]) -> list[str]:
        """``texts`` as they may be logged (``monitoring.log_payloads``): redacted when redaction is on."""

    def start(self) -> None:
        """Called once the service has loaded its model."""

    def close(self) -> None:
        """Called at shutdown, after the last request was answered."""


HooksFactory = Callable[[ServiceView], ServiceHooks]
"""Builds the hooks of one service from its :class:`ServiceView`."""

SettingsHooksFactory = Callable[[ServiceView, "MonitoringSettings", "RegistrySettings"], ServiceHooks]
"""What a dotted hooks path names: hooks from a service view and the ``monitoring`` and ``registry`` sections."""


def load_hooks_factory(dotted: str) -> SettingsHooksFactory:
    """The callable a dotted path ``"package.module:function"`` names.

    Args:
        dotted: module and attribute, separated by a colon.

    Returns:
        The callable ``(view, monitoring, registry) -> ServiceHooks``.

    Raises:
        ConfigError: the path is malformed, the module cannot be imported or has no such callable.
    """
    module_name, sep, attribute = dotted.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f'Service hooks "{dotted}" must look like "package.module:function". Fix the path.')
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f'Cannot import the service hooks module "{module_name}": {exc}. Check the path.') from exc
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ConfigError(f'"{module_name}" has no callable "{attribute}" (service hooks "{dotted}"). Check the path.')
    return factory  # type: ignore[no-any-return]


__all__ = [
    "SYNTHETIC_HEADER",
    "HooksFactory",
    "Langs",
    "Observation",
    "ServiceHooks",
    "ServiceView",
    "SettingsHooksFactory",
    "is_synthetic",
    "load_hooks_factory",
]
