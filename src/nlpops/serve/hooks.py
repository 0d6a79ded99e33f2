"""Service hooks: how a layer above serving (monitoring) plugs into the service without being imported by it.

A :class:`ServiceHooks` object is handed to :class:`~nlpops.serve.app.ServiceApp`. The service then calls
:meth:`~ServiceHooks.observe` once per answered classify request (after the prediction), serves
:meth:`~ServiceHooks.page` at ``GET /`` and :meth:`~ServiceHooks.status` at ``GET /v1/status``, calls
:meth:`~ServiceHooks.start` once the model is loaded and :meth:`~ServiceHooks.close` at shutdown.

``nlpops serve`` names the hooks by a dotted path (``"package.module:function"``, resolved with importlib),
so worker processes started by uvicorn can build the same hooks from an environment variable.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from nlpops.errors import ConfigError

if TYPE_CHECKING:
    from nlpops.checklist import MonitoringSettings, RegistrySettings
    from nlpops.serve.app import ServiceApp

Langs = Sequence[str | None] | str | None


@runtime_checkable
class ServiceHooks(Protocol):
    """What the service calls on its hooks. Methods must not raise on the hot path (``observe``)."""

    def observe(
        self,
        texts: Sequence[str],
        proba: np.ndarray,
        labels: Sequence[str],
        langs: Langs,
        model_name: str,
        model_version: str,
    ) -> None:
        """Count one answered classify request (cheap: called on the event loop)."""

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


HooksFactory = Callable[["ServiceApp"], ServiceHooks]
"""Builds the hooks of one app (it may read ``app.reloader.current`` and ``app.metrics.registry``)."""

SettingsHooksFactory = Callable[["ServiceApp", "MonitoringSettings", "RegistrySettings"], ServiceHooks]
"""What a dotted hooks path names: hooks from an app and the ``monitoring`` and ``registry`` sections."""


def load_hooks_factory(dotted: str) -> SettingsHooksFactory:
    """The callable a dotted path ``"package.module:function"`` names.

    Args:
        dotted: module and attribute, separated by a colon.

    Returns:
        The callable ``(app, monitoring, registry) -> ServiceHooks``.

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


__all__ = ["HooksFactory", "Langs", "ServiceHooks", "SettingsHooksFactory", "load_hooks_factory"]
