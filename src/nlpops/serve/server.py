"""Running the service under uvicorn (httptools + uvloop), with one or several worker processes.

One worker: the model is loaded before the server binds, so a bad REF fails with one clear error.
Several workers: uvicorn starts each from :func:`app_from_environment`, which reads the REF, the config
path and the service hooks' dotted path from ``NLPOPS_SERVE_REF`` / ``NLPOPS_CONFIG`` /
``NLPOPS_SERVE_HOOKS`` (set here), and metrics use prometheus-client's multiprocess mode.
SIGTERM: stop accepting, finish in-flight requests, exit. SIGHUP: check the alias now.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from nlpops.checklist import MonitoringSettings, RegistrySettings, ServingSettings, load_config
from nlpops.errors import ServingError
from nlpops.serve.app import ServiceApp
from nlpops.serve.hooks import HooksFactory, load_hooks_factory
from nlpops.serve.metrics import MULTIPROC_ENV, ServiceMetrics
from nlpops.serve.reload import ModelReloader
from nlpops.serve.routes import build_core
from nlpops.serve.source import LoadedModel, ModelSource, follows_alias, load_model, source_for_ref

REF_ENV = "NLPOPS_SERVE_REF"
CONFIG_ENV = "NLPOPS_CONFIG"
OVERRIDES_ENV = "NLPOPS_SERVE_OVERRIDES"
HOOKS_ENV = "NLPOPS_SERVE_HOOKS"


def build_app(
    source: ModelSource,
    serving: ServingSettings,
    monitoring: MonitoringSettings,
    *,
    follow: bool,
    initial: LoadedModel | None = None,
    metrics: ServiceMetrics | None = None,
    install_signal_handlers: bool = False,
    hooks: HooksFactory | None = None,
) -> ServiceApp:
    """The ASGI app over a model source.

    Args:
        source: where the served ref points (see :mod:`nlpops.serve.source`).
        serving: the ``serving`` section.
        monitoring: the ``monitoring`` section.
        follow: poll the source every ``serving.poll_interval_s`` for a new version (hot swap).
        initial: a model already loaded from ``source()`` (else it loads at startup).
        metrics: the metrics to record into (a new, app-owned set by default).
        install_signal_handlers: check the source at once on SIGHUP.
        hooks: builds the service hooks (monitoring: ``GET /``, ``GET /v1/status``, live statistics).

    Returns:
        The application; its ASGI lifespan loads the model and starts the batcher.
    """
    metrics = metrics or ServiceMetrics()
    reloader = ModelReloader(
        source, metrics, poll_interval_s=serving.poll_interval_s if follow else None, initial=initial
    )
    core = build_core(reloader, serving, monitoring, metrics, hooks=hooks)
    return ServiceApp(core, install_signal_handlers=install_signal_handlers)


def hooks_from_path(
    dotted: str | None, monitoring: MonitoringSettings, registry: RegistrySettings
) -> HooksFactory | None:
    """The hooks factory a dotted path names, bound to the config sections (None for no path).

    Args:
        dotted: ``"package.module:function"`` of a ``(view, monitoring, registry) -> ServiceHooks`` callable.
        monitoring: the ``monitoring`` section.
        registry: the ``registry`` section.

    Returns:
        A factory ``view -> ServiceHooks`` for :func:`build_app`.

    Raises:
        ConfigError: the path does not name a callable.
    """
    if not dotted:
        return None
    factory = load_hooks_factory(dotted)
    return lambda view: factory(view, monitoring, registry)


def app_from_environment() -> ServiceApp:
    """The app of one worker process (uvicorn factory): REF and config from the environment.

    Raises:
        ServingError: ``NLPOPS_SERVE_REF`` is not set.
    """
    import orjson

    ref = os.environ.get(REF_ENV)
    if not ref:
        raise ServingError(f"{REF_ENV} is not set; start workers with: nlpops serve REF --workers N")
    overrides = orjson.loads(os.environ.get(OVERRIDES_ENV, "{}"))
    config = load_config(os.environ.get(CONFIG_ENV) or None, overrides)
    source = source_for_ref(ref, config.registry, config.serving.lang)
    return build_app(
        source,
        config.serving,
        config.monitoring,
        follow=follows_alias(ref),
        install_signal_handlers=True,
        hooks=hooks_from_path(os.environ.get(HOOKS_ENV), config.monitoring, config.registry),
    )


def log_config() -> dict[str, Any]:
    """uvicorn's logging config plus the ``nlpops`` loggers at INFO (swaps, load failures, payloads if asked)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["nlpops"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


def uvicorn_options(serving: ServingSettings) -> dict[str, Any]:
    """The uvicorn settings the service runs with (nlpops' HTTP protocol, uvloop, no access log, nlpops logs).

    The HTTP protocol is :class:`~nlpops.serve.http.HttpProtocol` (httptools; requests go to the serving core
    without the ASGI layer) with :mod:`nlpops.serve.connections`' cap on open connections and header
    deadline; the process's open-files limit is raised to fit the cap (or the cap lowered, with a warning).
    """
    from nlpops.serve.connections import ConnectionGuard, fit_descriptor_limit
    from nlpops.serve.http import http_protocol

    guard = ConnectionGuard(fit_descriptor_limit(serving.max_connections), serving.header_timeout_s)
    return {
        "host": serving.host,
        "port": serving.port,
        "loop": "uvloop",
        "http": http_protocol(guard),
        "timeout_keep_alive": serving.keep_alive_timeout_s,
        "lifespan": "on",
        "access_log": False,
        "log_level": "info",
        "log_config": log_config(),
        "server_header": False,
        "proxy_headers": False,
    }


def serve(
    ref: str,
    serving: ServingSettings,
    monitoring: MonitoringSettings,
    registry: RegistrySettings,
    *,
    config_path: Path | None = None,
    overrides: dict[str, Any] | None = None,
    hooks: str | None = None,
) -> None:
    """Serve ``ref`` (bundle path, ``NAME@ALIAS`` or ``NAME:VERSION``) until SIGTERM/SIGINT.

    Args:
        ref: what to serve.
        serving: the ``serving`` section (host, port, workers, limits).
        monitoring: the ``monitoring`` section.
        registry: the ``registry`` section (for registry refs).
        config_path: the config file, passed on to worker processes when ``serving.workers > 1``.
        overrides: the CLI's overrides, passed on to worker processes.
        hooks: dotted path (``"package.module:function"``) of the service hooks factory, e.g. monitoring's
            ``nlpops.monitor.service:hooks_for``; None serves without ``/`` and ``/v1/status``.

    Raises:
        NlpopsError: the ref cannot be resolved or its model cannot be loaded.
        ConfigError: ``hooks`` does not name a callable.
    """
    import uvicorn

    source = source_for_ref(ref, registry, serving.lang)
    hooks_factory = hooks_from_path(hooks, monitoring, registry)  # a bad path fails here, before loading
    if serving.workers == 1:
        initial = load_model(source())
        app = build_app(
            source,
            serving,
            monitoring,
            follow=follows_alias(ref),
            initial=initial,
            install_signal_handlers=True,
            hooks=hooks_factory,
        )
        uvicorn.Server(uvicorn.Config(app, **uvicorn_options(serving))).run()
        return
    import orjson

    os.environ[REF_ENV] = ref
    os.environ[OVERRIDES_ENV] = orjson.dumps(overrides or {}).decode()
    if hooks:
        os.environ[HOOKS_ENV] = hooks
    else:
        os.environ.pop(HOOKS_ENV, None)
    if config_path is not None:
        os.environ[CONFIG_ENV] = str(config_path)
    own_dir = MULTIPROC_ENV not in os.environ
    metrics_dir = os.environ.get(MULTIPROC_ENV) or tempfile.mkdtemp(prefix="nlpops-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        uvicorn.run(
            "nlpops.serve.server:app_from_environment",
            factory=True,
            workers=serving.workers,
            **uvicorn_options(serving),
        )
    finally:
        if own_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


__all__ = [
    "HOOKS_ENV",
    "app_from_environment",
    "build_app",
    "hooks_from_path",
    "log_config",
    "serve",
    "uvicorn_options",
]
