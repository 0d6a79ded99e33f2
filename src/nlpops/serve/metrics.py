"""Prometheus metrics of one service instance, in a ``CollectorRegistry`` the instance owns.

With several workers, prometheus-client's multiprocess mode is used: each worker writes its values
under ``PROMETHEUS_MULTIPROC_DIR`` (set before the workers start) and ``/metrics`` sums all workers.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_QUEUED_BUCKETS_S = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0)


class ServiceMetrics:
    """Every metric of the HTTP service (names start with ``nlpops_``).

    Args:
        multiprocess_dir: the folder of prometheus-client's multiprocess mode; ``None`` reads
            ``PROMETHEUS_MULTIPROC_DIR`` (read here, at app start, never at import time).
    """

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir if multiprocess_dir is not None else os.environ.get(MULTIPROC_ENV)
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter(
            "nlpops_http_requests", "HTTP requests by route and status code", ["route", "status"], registry=reg
        )
        self.latency = Histogram(
            "nlpops_http_request_duration_seconds",
            "Time from request start to response, by route",
            ["route"],
            buckets=_LATENCY_BUCKETS_S,
            registry=reg,
        )
        self.batch_size = Histogram(
            "nlpops_batch_size", "Texts per model call (micro-batch size)", buckets=_BATCH_BUCKETS, registry=reg
        )
        self.batch_seconds = Histogram(
            "nlpops_batch_duration_seconds", "Time of one model call", buckets=_LATENCY_BUCKETS_S, registry=reg
        )
        self.queued_seconds = Histogram(
            "nlpops_queue_wait_seconds",
            "Time a request waited in the queue before its first batch started",
            buckets=_QUEUED_BUCKETS_S,
            registry=reg,
        )
        self.queue_depth = Gauge(
            "nlpops_queue_depth", "Texts waiting for a batch", registry=reg, multiprocess_mode="livesum"
        )
        self.model_info = Gauge(
            "nlpops_model_info",
            "The live model (value 1 for the version being served)",
            ["model", "version"],
            registry=reg,
            multiprocess_mode="liveall",
        )
        self.predictions = Counter("nlpops_predictions", "Predicted labels", ["model", "label"], registry=reg)
        self.load_failures = Counter(
            "nlpops_model_load_failures", "Model versions that failed to load or verify", ["model"], registry=reg
        )
        self.swaps = Counter("nlpops_model_swaps", "Hot swaps to a new model version", ["model"], registry=reg)
        self.synthetic = Counter(
            "nlpops_synthetic_requests",
            "Inference requests marked synthetic (x-nlpops-synthetic: 1, e.g. nlpops loadtest), by route and status; "
            "also counted in nlpops_http_requests_total",
            ["route", "status"],
            registry=reg,
        )
        self._route_cache: dict[tuple[str, int], Counter] = {}
        self._latency_cache: dict[str, Histogram] = {}

    def count_request(self, route: str, status: int, seconds: float) -> None:
        """Record one answered request (the labelled children are looked up once: ``labels()`` takes a lock)."""
        key = (route, status)
        child = self._route_cache.get(key)
        if child is None:
            child = self.requests.labels(route=route, status=str(status))
            self._route_cache[key] = child
        child.inc()
        latency = self._latency_cache.get(route)
        if latency is None:
            latency = self._latency_cache[route] = self.latency.labels(route=route)
        latency.observe(seconds)

    def count_synthetic(self, route: str, status: int) -> None:
        """Record one answered request that was marked synthetic."""
        self.synthetic.labels(route=route, status=str(status)).inc()

    def set_live_model(self, name: str, version: str, previous: tuple[str, str] | None) -> None:
        """Mark ``name``/``version`` as the live model (and the previous one as gone)."""
        if previous is not None:
            self.model_info.labels(model=previous[0], version=previous[1]).set(0)
        self.model_info.labels(model=name, version=version).set(1)

    def render(self) -> bytes:
        """The Prometheus text exposition of this instance (all workers in multiprocess mode)."""
        if self.multiprocess_dir:
            merged = CollectorRegistry()
            # prometheus_client ships py.typed but leaves MultiProcessCollector.__init__ unannotated.
            MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            return generate_latest(merged)
        return generate_latest(self.registry)


__all__ = ["CONTENT_TYPE", "MULTIPROC_ENV", "ServiceMetrics"]
