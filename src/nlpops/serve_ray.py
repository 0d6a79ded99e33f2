"""``nlpops serve REF --engine ray``: the same Predictor as a Ray Serve deployment, batched by Ray.

Each replica loads the model exactly as the plain service does (:func:`nlpops.serve.load_model`: verified on
its reference texts, warmed) and answers the same routes and JSON (``POST /v1/classify``, ``GET /v1/models``,
``/healthz``, ``/readyz``, ``/metrics``). Batching is Ray's ``@serve.batch``: concurrent classify requests are
gathered (up to ``serving.max_batch_size`` requests, waiting at most ``serving.max_wait_ms``) into one model call;
``nlpops_batch_size`` on ``/metrics`` shows the texts per call. Replicas autoscale between the given bounds.

Hot swap works as in the plain service: for ``NAME@ALIAS`` each replica follows the alias (every
``serving.poll_interval_s``) with the same :class:`~nlpops.serve.reload.ModelReloader`, which loads, verifies
and warms a new version in the background and switches it in; a batch pins the model it started with, so
every answer reports the version that computed it. On a cluster every replica must reach the registry (a
shared volume, or the MLflow backend).

Ray is imported lazily (``pip install "nlpops[ray]"``). ``app_builder`` is the ``import_path`` of the Ray Serve
config file that ``nlpops deploy --target ray`` writes.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import orjson

from nlpops.checklist import RegistrySettings, ServingSettings
from nlpops.errors import MissingExtraError, NlpopsError, RequestError, ServingError
from nlpops.runtimes.langid import bounded_lang
from nlpops.serve.auth import ApiKeys
from nlpops.serve.decode import RequestLimits, decode_classify
from nlpops.serve.metrics import CONTENT_TYPE, ServiceMetrics
from nlpops.serve.reload import ModelReloader
from nlpops.serve.source import LoadedModel, follows_alias, load_model, source_for_ref

if TYPE_CHECKING:
    from ray.serve import Application

DEPLOYMENT_NAME = "NlpopsClassifier"
_ERROR_CODES = {400: "invalid_json", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_request",
                503: "unavailable"}  # fmt: skip
_ROUTES = {"/v1/classify": "POST", "/v1/models": "GET", "/healthz": "GET", "/readyz": "GET", "/metrics": "GET"}


def _error(status: int, message: str) -> tuple[int, bytes, str]:
    body = orjson.dumps({"error": {"code": _ERROR_CODES.get(status, "internal_error"), "message": message}})
    return status, body, "application/json"


class RayClassifier:
    """The body of the Ray Serve deployment; :func:`build_ray_app` adds Ray's batching and the HTTP entry.

    Args:
        ref: a bundle path, ``NAME@ALIAS`` or ``NAME:VERSION``.
        serving: the ``serving`` section (limits, auth, batching).
        registry: the ``registry`` section (for registry refs).
    """

    def __init__(self, ref: str, serving: ServingSettings, registry: RegistrySettings) -> None:
        source = source_for_ref(ref, registry)
        self.serving = serving
        self.metrics = ServiceMetrics(multiprocess_dir="")
        self.reloader = ModelReloader(
            source,
            self.metrics,
            poll_interval_s=serving.poll_interval_s if follows_alias(ref) else None,
            initial=load_model(source()),
        )
        self._following = False
        self._keys = ApiKeys(serving.api_keys)
        self._limits = RequestLimits(serving.max_texts_per_request, serving.max_chars_per_text, serving.truncate)

    @property
    def model(self) -> LoadedModel:
        """The live model (loaded at construction, swapped when the alias moves)."""
        current = self.reloader.current
        assert current is not None  # set at construction
        return current

    def follow(self) -> None:
        """Start following the alias; needs the replica's event loop, so the first request (or health check)
        calls it."""
        if not self._following:
            self._following = True
            self.reloader.start()

    async def check_health(self) -> None:
        """Ray Serve's periodic health check: also starts following the alias on an idle replica."""
        self.follow()

    async def predict_one(self, texts: list[str]) -> tuple[LoadedModel, np.ndarray]:
        """One request's texts: the model that answered and the probabilities. Unbatched here; the deployment
        overrides it to go through Ray's ``@serve.batch`` around :meth:`predict_many`."""
        return self.predict_many([texts])[0]

    def predict_many(self, requests: list[list[str]]) -> list[tuple[LoadedModel, np.ndarray]]:
        """One model call for the texts of every request Ray gathered: per request, the model that answered
        (pinned for the whole batch, so a swap never splits one) and its probability array."""
        model = self.model
        texts = [t for request in requests for t in request]
        started = time.perf_counter()
        proba = np.asarray(model.predictor.predict_proba(texts))
        self.metrics.batch_size.observe(len(texts))
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        bounds = np.cumsum([len(r) for r in requests])[:-1]
        return [(model, part) for part in np.split(proba, bounds)]

    async def handle(self, method: str, path: str, headers: dict[bytes, bytes], body: bytes) -> tuple[int, bytes, str]:
        """Answer one HTTP request: ``(status, body, content type)``; errors as the plain service writes them."""
        started = time.perf_counter()
        self.follow()
        route = path if path in _ROUTES else "other"
        try:
            if path not in _ROUTES:
                status, payload, kind = _error(404, f'No route "{path}". Routes: {", ".join(_ROUTES)}.')
            elif method != _ROUTES[path]:
                status, payload, kind = _error(405, f"{path} accepts {_ROUTES[path]} only.")
            else:
                status, payload, kind = await self._route(path, headers, body)
        except NlpopsError as exc:
            status, payload, kind = _error(exc.http_status if exc.http_status >= 400 else 500, exc.message)
        self.metrics.count_request(route, status, time.perf_counter() - started)
        return status, payload, kind

    async def _route(self, path: str, headers: dict[bytes, bytes], body: bytes) -> tuple[int, bytes, str]:
        if path == "/healthz":
            return 200, b'{"status":"ok"}', "application/json"
        if path == "/readyz":
            return 200, b'{"status":"ready"}', "application/json"
        if path == "/metrics":
            if self.serving.protect_metrics and self._keys.enabled:
                self._keys.check(headers)
            return 200, self.metrics.render(), CONTENT_TYPE
        if self._keys.enabled:
            self._keys.check(headers)
        if path == "/v1/models":
            return 200, self._models(), "application/json"
        if len(body) > self.serving.max_body_bytes:
            raise RequestError(f"The body exceeds {self.serving.max_body_bytes} bytes (serving.max_body_bytes).", 413)
        return 200, await self.classify(body, headers.get(b"content-type")), "application/json"

    def _models(self) -> bytes:
        manifest = self.model.predictor.manifest
        model = {
            "name": self.model.name,
            "version": self.model.version,
            "bundle_version": manifest.version,
            "family": manifest.family,
            "runtime": manifest.runtime,
            "labels": list(self.model.predictor.labels),
            "languages": list(manifest.languages),
        }
        return orjson.dumps({"models": [model]})

    async def classify(self, body: bytes, content_type: bytes | None = b"application/json") -> bytes:
        """The ``/v1/classify`` answer for a raw body (decoded and checked like the plain service)."""
        request = decode_classify(body, self._limits, content_type)
        model, proba = await self.predict_one(list(request.texts))
        labels = model.predictor.labels
        languages = model.predictor.manifest.languages
        lang = bounded_lang(request.lang, languages)
        if lang is None and len(languages) == 1:
            lang = languages[0]
        predictions: list[dict[str, Any]] = []
        for row in np.asarray(proba):
            index = int(row.argmax())
            prediction: dict[str, Any] = {"label": labels[index], "score": float(row[index]), "lang": lang}
            if request.return_scores:
                prediction["scores"] = dict(zip(labels, row.tolist(), strict=True))
            predictions.append(prediction)
            self.metrics.predictions.labels(model=model.name, label=labels[index]).inc()
        return orjson.dumps({"model": model.name, "version": model.version, "predictions": predictions})


def _import_serve() -> Any:
    try:
        with warnings.catch_warnings():  # Ray's own pydantic deprecations, not the user's business
            warnings.simplefilter("ignore", DeprecationWarning)
            from ray import serve
    except ImportError as exc:
        raise MissingExtraError.for_extra("nlpops serve --engine ray", "ray", "ray[serve]") from exc
    return serve


def _deployment_class(serve: Any) -> type:
    """The deployment class: Ray's ``@serve.batch`` around :meth:`RayClassifier.predict_many`, and ``__call__``."""
    from starlette.responses import Response

    class NlpopsClassifier(RayClassifier):
        def __init__(self, ref: str, serving: ServingSettings, registry: RegistrySettings) -> None:
            super().__init__(ref, serving, registry)
            self.predict_batch.set_max_batch_size(serving.max_batch_size)
            self.predict_batch.set_batch_wait_timeout_s(serving.max_wait_ms / 1000.0)

        @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.002)  # type: ignore[untyped-decorator]
        async def predict_batch(self, requests: list[list[str]]) -> list[tuple[LoadedModel, np.ndarray]]:
            return self.predict_many(requests)

        async def predict_one(self, texts: list[str]) -> tuple[LoadedModel, np.ndarray]:
            # Ray gathers concurrent calls into one predict_batch; each caller gets its own request's item.
            one_item = cast("Callable[[list[str]], Awaitable[tuple[LoadedModel, np.ndarray]]]", self.predict_batch)
            return await one_item(texts)

        async def __call__(self, request: Any) -> Response:
            body = await request.body()
            path = request.url.path
            root = str(request.scope.get("root_path") or "")  # the application's route prefix, if any
            if root and path.startswith(root):
                path = path[len(root) :] or "/"
            status, payload, kind = await self.handle(request.method, path, dict(request.scope["headers"]), body)
            return Response(payload, status_code=status, media_type=kind)

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
        serving: the ``serving`` section (``max_batch_size`` and ``max_wait_ms`` drive ``@serve.batch``).
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
        _deployment_class(serve),
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
    """Ray Serve application builder (``import_path: nlpops.serve_ray:app_builder`` in a Serve config file).

    Args:
        args: ``ref`` (required); optional ``config`` (an nlpops.yaml path), ``max_batch_size``,
            ``batch_wait_timeout_s``. API keys come from ``NLPOPS_SERVING__API_KEYS`` on the cluster.

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
        serving: the ``serving`` section.
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

    source_for_ref(ref, registry)()  # a bad REF fails here, with one clear line, before Ray starts
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


__all__ = ["DEPLOYMENT_NAME", "RayClassifier", "app_builder", "build_ray_app", "serve_ray"]
