"""``nlpops serve REF --engine ray``: the serving core as a Ray Serve deployment (a thin front end).

Each replica builds the same :class:`~nlpops.serve.core.ServingCore` as the plain service (the model loaded
with :func:`nlpops.serve.load_model`: verified on its reference texts, warmed) and hands every HTTP request
Ray delivers to :meth:`~nlpops.serve.core.ServingCore.handle`: the same routes, JSON, error codes and bodies,
``Retry-After`` on 503, ``/openapi.json``, per-text ``lang`` for model sets and ``serving.lang``
(``--lang``). Batching is the core's micro-batcher inside each replica: concurrent requests (up to
``max_ongoing_requests`` per replica) are gathered into one model call of at most ``serving.max_batch_size``
texts, waiting at most ``serving.max_wait_ms``; replicas autoscale between the given bounds.

Hot swap works as in the plain service: for ``NAME@ALIAS`` each replica follows the alias (every
``serving.poll_interval_s``) with the same :class:`~nlpops.serve.reload.ModelReloader`. On a cluster every
replica must reach the registry (a shared volume, or the MLflow backend). The status page and live drift
statistics are served by the uvicorn engine only.

Ray is imported lazily (``pip install "nlpops[ray]"``). :func:`app_builder` is the ``import_path`` of the
Ray Serve config file that ``nlpops deploy --target ray`` writes.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any

from nlpops.checklist import MonitoringSettings, RegistrySettings, ServingSettings
from nlpops.errors import MissingExtraError, NlpopsError, ServingError
from nlpops.serve.core import Headers, ServingCore, body_too_large
from nlpops.serve.metrics import ServiceMetrics
from nlpops.serve.reload import ModelReloader
from nlpops.serve.routes import build_core
from nlpops.serve.source import follows_alias, load_model, source_for_ref

if TYPE_CHECKING:
    from ray.serve import Application

DEPLOYMENT_NAME = "NlpopsClassifier"
IMPORT_PATH = "nlpops.serve.ray:app_builder"
"""The ``import_path`` of :func:`app_builder` in a Ray Serve config file."""


class BufferedExchange:
    """A request whose body was already read (Ray's proxy buffers it) as the core's
    :class:`~nlpops.serve.core.Exchange`; the response is kept in :attr:`reply`.

    Args:
        method: the HTTP method.
        path: the path inside the application (its route prefix removed).
        headers: the request headers, lower-case names.
        body: the whole body.
    """

    def __init__(self, method: str, path: str, headers: Headers, body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self._body = body
        self.reply: tuple[int, bytes, Headers] = (500, b"", [])

    async def read_body(self, limit: int) -> bytes:
        """The body; 413 beyond ``limit`` (the same error as the streaming front end)."""
        if len(self._body) > limit:
            raise body_too_large(limit)
        return self._body

    async def respond(self, status: int, body: bytes, headers: Headers) -> None:
        """Keep the response for the deployment to return."""
        self.reply = (status, body, headers)


class RayClassifier:
    """The body of the Ray Serve deployment: one serving core per replica.

    Args:
        ref: a bundle path, ``NAME@ALIAS`` or ``NAME:VERSION``.
        serving: the ``serving`` section (limits, auth, batching, ``lang``).
        registry: the ``registry`` section (for registry refs).
    """

    def __init__(self, ref: str, serving: ServingSettings, registry: RegistrySettings) -> None:
        source = source_for_ref(ref, registry, serving.lang)
        metrics = ServiceMetrics(multiprocess_dir="")
        reloader = ModelReloader(
            source,
            metrics,
            poll_interval_s=serving.poll_interval_s if follows_alias(ref) else None,
            initial=load_model(source()),
        )
        self.core: ServingCore = build_core(reloader, serving, MonitoringSettings(), metrics)
        self._started = False

    async def start(self) -> None:
        """Start the core on the replica's event loop (batcher, alias polling); the first request or health
        check calls it."""
        if not self._started:
            self._started = True
            await self.core.startup()

    async def check_health(self) -> None:
        """Ray Serve's periodic health check: also starts the core on an idle replica."""
        await self.start()

    async def handle(self, method: str, path: str, headers: Headers, body: bytes) -> tuple[int, bytes, Headers]:
        """Answer one HTTP request through the core: ``(status, body, headers)``."""
        await self.start()
        exchange = BufferedExchange(method, path, headers, body)
        await self.core.handle(exchange)
        return exchange.reply


def _import_serve() -> Any:
    try:
        with warnings.catch_warnings():  # Ray's own pydantic deprecations, not the user's business
            warnings.simplefilter("ignore", DeprecationWarning)
            from ray import serve
    except ImportError as exc:
        raise MissingExtraError.for_extra("nlpops serve --engine ray", "ray", "ray[serve]") from exc
    return serve


def _deployment_class() -> type:
    """The deployment class: :class:`RayClassifier` with Ray's HTTP entry (``__call__``)."""
    from starlette.responses import Response

    class NlpopsClassifier(RayClassifier):
        async def __call__(self, request: Any) -> Response:
            body = await request.body()
            path = request.url.path
            root = str(request.scope.get("root_path") or "")  # the application's route prefix, if any
            if root and path.startswith(root):
                path = path[len(root) :] or "/"
            status, payload, headers = await self.handle(request.method, path, list(request.scope["headers"]), body)
            return Response(payload, status_code=status, headers={k.decode(): v.decode() for k, v in headers})

    return NlpopsClassifier


def build_ray_app(
    ref: str,
    serving: ServingSettings,
    registry: RegistrySettings,
    *,
    min_replicas: int = 1,
    max_replicas: int = 1,
    num_cpus: float = 1.0,
) -> Application:
    """The Ray Serve application serving ``ref``.

    Args:
        ref: a bundle path, ``NAME@ALIAS`` or ``NAME:VERSION``.
        serving: the ``serving`` section (``max_batch_size`` and ``max_wait_ms`` drive each replica's batcher;
            ``lang`` serves one language of a model set).
        registry: the ``registry`` section.
        min_replicas: autoscaling lower bound.
        max_replicas: autoscaling upper bound.
        num_cpus: CPUs each replica reserves.

    Returns:
        The bound application (``serve.run(app)``).

    Raises:
        MissingExtraError: Ray Serve is not installed.
    """
    serve = _import_serve()
    deployment = serve.deployment(
        _deployment_class(),
        name=DEPLOYMENT_NAME,
        max_ongoing_requests=max(serving.max_batch_size * 2, 8),
        autoscaling_config={
            "min_replicas": min_replicas,
            "initial_replicas": min_replicas,
            "max_replicas": max(max_replicas, min_replicas),
            "target_ongoing_requests": max(1, serving.max_batch_size // 2),
        },
        ray_actor_options={"num_cpus": num_cpus},
    )
    return deployment.bind(ref, serving, registry)  # type: ignore[no-any-return]


def app_builder(args: dict[str, Any]) -> Application:
    """Ray Serve application builder (``import_path: nlpops.serve.ray:app_builder`` in a Serve config file).

    Args:
        args: ``ref`` (required); optional ``config`` (an nlpops.yaml path), ``max_batch_size``,
            ``batch_wait_timeout_s``, ``lang``. API keys come from ``NLPOPS_SERVING__API_KEYS`` on the cluster.

    Raises:
        ConfigError: ``ref`` is missing or the config is invalid.
    """
    from nlpops.checklist import load_config
    from nlpops.errors import ConfigError

    if not isinstance(args.get("ref"), str):
        raise ConfigError('The Ray Serve application needs args.ref (a bundle path or NAME@ALIAS). Add it to "args".')
    serving: dict[str, Any] = {}
    if "max_batch_size" in args:
        serving["max_batch_size"] = int(args["max_batch_size"])
    if "batch_wait_timeout_s" in args:
        serving["max_wait_ms"] = float(args["batch_wait_timeout_s"]) * 1000.0
    if args.get("lang"):
        serving["lang"] = str(args["lang"])
    config = load_config(args.get("config"), {"serving": serving} if serving else None)
    return build_ray_app(args["ref"], config.serving, config.registry)


def serve_ray(
    ref: str,
    serving: ServingSettings,
    registry: RegistrySettings,
    *,
    ray_address: str | None = None,
    min_replicas: int = 1,
    max_replicas: int = 1,
) -> None:
    """Run ``ref`` on Ray Serve at ``serving.host:serving.port`` until interrupted (``nlpops serve --engine ray``).

    Args:
        ref: what to serve.
        serving: the ``serving`` section (``lang``: one language of a model set).
        registry: the ``registry`` section.
        ray_address: a Ray cluster to join (None: ``RAY_ADDRESS`` or a new local instance).
        min_replicas: autoscaling lower bound.
        max_replicas: autoscaling upper bound.

    Raises:
        MissingExtraError: Ray Serve is not installed.
        ServingError: Ray or the application failed to start.
    """
    # Nothing leaves the machine unless the user configures it: no Ray usage statistics.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    serve = _import_serve()
    import ray

    pointer = source_for_ref(ref, registry, serving.lang)()  # a bad REF fails here, with one clear line, before Ray
    if pointer.lang is not None:
        load_model(pointer)  # and so does a --lang the model cannot serve
    try:
        ray.init(address=ray_address, include_dashboard=False, ignore_reinit_error=True)
        serve.start(http_options={"host": serving.host, "port": serving.port})
        app = build_ray_app(ref, serving, registry, min_replicas=min_replicas, max_replicas=max_replicas)
        serve.run(app, name="nlpops", route_prefix="/", blocking=True)
    except NlpopsError:
        raise
    except (RuntimeError, ConnectionError, ValueError) as exc:
        raise ServingError(f"Ray Serve failed to start: {exc}. Check the Ray address and the port.") from exc
    finally:
        if ray.is_initialized():
            serve.shutdown()
            ray.shutdown()


__all__ = [
    "DEPLOYMENT_NAME",
    "IMPORT_PATH",
    "BufferedExchange",
    "RayClassifier",
    "app_builder",
    "build_ray_app",
    "serve_ray",
]
