"""What a running service gets from monitoring: the observer, drift gauges, and the status page and JSON.

The serve layer cannot import this package. A :class:`ServiceMonitor` is its
:class:`~nlpops.serve.ServiceHooks`, built over the service's :class:`~nlpops.serve.ServiceView` (the live
model and the metrics registry, nothing else): the service calls :meth:`ServiceMonitor.observe` with one
:class:`~nlpops.serve.Observation` per inference request, :meth:`~ServiceMonitor.status` for
``GET /v1/status`` and :meth:`~ServiceMonitor.page` for ``GET /``. ``nlpops serve`` builds it with
:func:`hooks_for` (named by :data:`HOOKS_PATH`, so worker processes can build it too); embedders pass
:func:`monitor_hooks` to :func:`nlpops.serve.build_app`.

The status page (:func:`status_page`) is one self-contained HTML document: the charting library (uPlot,
``vendor/``, MIT) is inlined, so the page makes no request beyond the service itself and works offline.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from prometheus_client import CollectorRegistry

from nlpops.bundle import BundleManifest
from nlpops.checklist import MonitoringSettings, RegistrySettings
from nlpops.errors import NlpopsError
from nlpops.monitor.drift import DriftReport, DriftThresholds, detect_drift
from nlpops.monitor.gauges import DriftGauges
from nlpops.monitor.history import MinuteHistory, histogram_quantile, peak_psi
from nlpops.monitor.live import LiveStats
from nlpops.monitor.pending import PendingObservations
from nlpops.monitor.report import build_live_stats
from nlpops.runtimes.langid import bounded_lang
from nlpops.serve import HooksFactory, Langs, Observation, ServiceView

logger = logging.getLogger("nlpops.monitor")
_CLASSIFY_ROUTE = "/v1/classify"
_LATENCY_METRIC = "nlpops_http_request_duration_seconds"
_REQUESTS_METRIC = "nlpops_http_requests"
_VENDORED = ("uPlot.min.css", "uPlot.iife.min.js")  # inlined into status.html where /*NAME*/ stands
HOOKS_PATH = "nlpops.monitor.service:hooks_for"
"""The dotted path ``nlpops serve`` hands the service (``serve(..., hooks=HOOKS_PATH)``)."""


@dataclass(frozen=True)
class ServedModel:
    """The model a service answers with now."""

    name: str
    version: str
    manifest: BundleManifest
    vocabulary: frozenset[str] | None = None  # word vocabulary, for out-of-vocabulary counts


CurrentModel = Callable[[], ServedModel | None]


class ServiceMonitor:
    """Live statistics, drift verdicts and the status page of one service instance.

    Args:
        live: the live statistics (and their store).
        thresholds: drift thresholds.
        current_model: says which model is live now (None while loading).
        window_s: the rolling window compared with the reference.
        metrics_registry: the service's Prometheus registry; drift gauges are added to it, and
            traffic and latency for the status page are read from it.
        refresh_interval_s: how often the background thread flushes and recomputes drift.
        clock: Unix time source.
        max_pending: classify requests queued by :meth:`observe` before they are counted in one batch.
        count_synthetic: count requests marked synthetic (load tests) too; off: they are left out of the live
            statistics and so of drift.
    """

    def __init__(
        self,
        live: LiveStats,
        thresholds: DriftThresholds,
        current_model: CurrentModel,
        *,
        window_s: float = 86400.0,
        metrics_registry: CollectorRegistry | None = None,
        refresh_interval_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        max_pending: int = 256,
        count_synthetic: bool = False,
    ) -> None:
        self.live = live
        self.count_synthetic = count_synthetic
        self._stop = threading.Event()
        self._wake = threading.Event()  # set to stop, or to drain a full queue of observations off the event loop
        self.pending = PendingObservations(
            live, max_pending=max_pending, vocabulary_for=self._vocabulary_for, on_full=self._wake.set
        )
        self.thresholds = thresholds
        self.current_model = current_model
        self.window_s = window_s
        self.metrics_registry = metrics_registry
        self.refresh_interval_s = refresh_interval_s
        self.clock = clock
        self.gauges = DriftGauges(metrics_registry) if metrics_registry is not None else None
        self.history = MinuteHistory(histogram_quantile)
        self.started_at = clock()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(
        cls,
        settings: MonitoringSettings,
        live: LiveStats,
        current_model: CurrentModel,
        metrics_registry: CollectorRegistry | None = None,
    ) -> ServiceMonitor:
        """A monitor with the thresholds, window and flush interval of the ``monitoring`` section."""
        return cls(
            live,
            DriftThresholds.from_settings(settings),
            current_model,
            window_s=settings.window_s,
            metrics_registry=metrics_registry,
            refresh_interval_s=settings.flush_interval_s,
            count_synthetic=settings.count_synthetic,
        )

    def _vocabulary_for(self, name: str, version: str) -> frozenset[str] | None:
        """The live model's vocabulary, if ``(name, version)`` is the live model (a swap may have happened
        since the request: then its tokens are not counted, its other statistics are)."""
        model = self.current_model()
        if model is None or (model.name, model.version) != (name, version):
            return None
        return model.vocabulary

    def observe(self, observation: Observation) -> None:
        """The hot-path observer: queues the request; counted in batches (see :meth:`LiveStats.observe`).

        A synthetic request (``nlpops loadtest``) is left out unless ``count_synthetic``. Languages are bounded
        (:func:`~nlpops.runtimes.langid.bounded_lang`): the model's languages, ``und``, and ``other`` for anything
        else, so clients cannot grow the statistics with made-up codes.
        """
        if observation.synthetic and not self.count_synthetic:
            return
        model = self.current_model()
        served = model.manifest.languages if model is not None else ()
        langs = observation.langs
        if langs is None or isinstance(langs, str):
            bounded: Langs = bounded_lang(langs, served)
        else:
            bounded = [bounded_lang(lang, served) for lang in langs]
        self.pending.add(dataclasses.replace(observation, langs=bounded))

    def redact_payload(self, texts: Sequence[str]) -> list[str]:
        """``texts`` as they may be logged: redacted with the live statistics' redactor, if any."""
        redactor = self.live.redactor
        return list(texts) if redactor is None else redactor.redact_all(texts)

    def drift(self) -> DriftReport | None:
        """The drift report of the live model over the window (and update the gauges); None while loading."""
        model = self.current_model()
        if model is None:
            return None
        self.pending.drain()
        snapshot = self.live.snapshot(model.name, model.version, window_s=self.window_s)
        report = detect_drift(
            model.manifest.reference,
            snapshot,
            self.thresholds,
            model=model.name,
            version=model.version,
            languages=model.manifest.languages,
            task=model.manifest.task,
        )
        if self.gauges is not None:
            self.gauges.update(report)
        return report

    def status(self) -> dict[str, Any]:
        """The ``GET /v1/status`` document: model, uptime, traffic, latency, label and language mix, drift."""
        model = self.current_model()
        doc: dict[str, Any] = {"uptime_s": self.clock() - self.started_at, "model": None, "version": None}
        snapshot: dict[str, Any] = {"rows": 0, "label_counts": {}, "languages": {}}
        report = None
        if model is not None:
            manifest = model.manifest
            doc.update(
                model=model.name,
                version=model.version,
                family=manifest.family,
                runtime=manifest.runtime,
                labels=list(manifest.labels),
            )
            self.pending.drain()
            snapshot = self.live.snapshot(model.name, model.version, window_s=self.window_s)
            report = self.drift()
        requests, errors = self._request_counts()
        buckets = self._latency_buckets()
        self.history.record(self.clock(), requests, errors, buckets, peak_psi(report))
        doc["traffic"] = {"classify_requests": requests, "errors": errors, "texts_in_window": snapshot["rows"]}
        doc["latency_ms"] = {f"p{int(q * 100)}": histogram_quantile(q, buckets) for q in (0.5, 0.95, 0.99)}
        doc["label_counts"] = snapshot["label_counts"]
        doc["languages"] = snapshot["languages"]
        doc["drift"] = report.to_dict() if report is not None else {"status": "insufficient_data", "drifted": []}
        doc["history"] = {
            "minute_s": self.history.minute_s,
            "psi_threshold": self.thresholds.psi,
            "points": self.history.points(),
        }
        return doc

    def record(self, report: DriftReport | None = None) -> None:
        """Add the running totals of now (and the drift of ``report``) to the last hour's history."""
        requests, errors = self._request_counts()
        self.history.record(self.clock(), requests, errors, self._latency_buckets(), peak_psi(report))

    def page(self) -> bytes:
        """The status page (:func:`status_page`: reads ``v1/status``, posts to ``v1/classify``)."""
        return status_page()

    def _samples(self, name: str) -> list[tuple[str, dict[str, str], float]]:
        if self.metrics_registry is None:
            return []
        return [
            (s.name, s.labels, s.value)
            for metric in self.metrics_registry.collect()
            if metric.name == name
            for s in metric.samples
        ]

    def _request_counts(self) -> tuple[int, int]:
        requests = errors = 0
        for sample, labels, value in self._samples(_REQUESTS_METRIC):
            if sample.endswith("_total") and labels.get("route") == _CLASSIFY_ROUTE:
                requests += int(value)
                errors += int(value) if labels.get("status", "").startswith("5") else 0
        return requests, errors

    def _latency_buckets(self) -> list[tuple[float, float]]:
        """The cumulative latency histogram of classify requests, ``(le, count)`` sorted (summed over labels)."""
        summed: dict[float, float] = {}
        for sample, labels, value in self._samples(_LATENCY_METRIC):
            if sample.endswith("_bucket") and labels.get("route") == _CLASSIFY_ROUTE:
                bound = float(labels["le"])
                summed[bound] = summed.get(bound, 0.0) + value
        return sorted(summed.items())

    def start(self) -> None:
        """Start the thread that flushes live statistics and refreshes the drift gauges."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._wake.clear()
        self.record()  # the history's first totals: the first minute is measured from the start
        self._thread = threading.Thread(target=self._run, name="nlpops-monitor", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and flush what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.pending.drain()
        self.live.close()

    def _run(self) -> None:
        next_refresh = time.monotonic() + self.refresh_interval_s
        while True:
            self._wake.wait(max(0.0, next_refresh - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.pending.drain()  # woken by a full queue, or time to refresh
                if time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + self.refresh_interval_s
                    self.live.flush()
                    self.record(self.drift())
            except NlpopsError as exc:  # no caller to raise to in a background thread
                logger.error("Monitoring refresh failed: %s", exc)


def current_model_of(view: ServiceView) -> ServedModel | None:
    """The model a service answers with now, as the monitor sees it (None while loading).

    Args:
        view: the service's view (its live model and metrics registry).

    Returns:
        Name, version, manifest and word vocabulary of the live model.
    """
    loaded = view.current_model()
    if loaded is None:
        return None
    predictor = loaded.predictor
    return ServedModel(loaded.name, loaded.version, predictor.manifest, predictor.vocabulary())


def monitor_hooks(
    live: LiveStats | None = None, *, thresholds: DriftThresholds | None = None, **options: Any
) -> HooksFactory:
    """A hooks factory for :func:`nlpops.serve.build_app`: a :class:`ServiceMonitor` over the service.

    Args:
        live: the live statistics (in memory only by default).
        thresholds: drift thresholds (the defaults by default).
        **options: passed to :class:`ServiceMonitor` (``window_s``, ``refresh_interval_s``, ``clock``).

    Returns:
        ``view -> ServiceMonitor``: the monitor reads the service's live model and adds drift gauges to its
        metrics registry.
    """

    def build(view: ServiceView) -> ServiceMonitor:
        return ServiceMonitor(
            live if live is not None else LiveStats(None),
            thresholds or DriftThresholds(),
            lambda: current_model_of(view),
            metrics_registry=view.metrics_registry,
            **options,
        )

    return build


def hooks_for(view: ServiceView, monitoring: MonitoringSettings, registry: RegistrySettings) -> ServiceMonitor:
    """The monitoring hooks of ``nlpops serve`` (named by :data:`HOOKS_PATH`), as the config asks.

    Live statistics go to ``monitoring.stats_path`` (default ``<registry.home>/monitor.db``), flushed every
    ``monitoring.flush_interval_s``; texts are stored only with ``monitoring.store_texts`` and redacted
    (in the store and in payload logs) with ``monitoring.pii_redaction``.

    Args:
        view: the service's view (its live model and metrics registry).
        monitoring: the ``monitoring`` section.
        registry: the ``registry`` section.

    Returns:
        The service's monitor.
    """
    return ServiceMonitor.from_settings(
        monitoring,
        build_live_stats(monitoring, registry),
        lambda: current_model_of(view),
        metrics_registry=view.metrics_registry,
    )


def status_page() -> bytes:
    """The status page: ``status.html`` with the vendored chart library inlined (no CDN; works offline)."""
    package = resources.files("nlpops.monitor")
    html = package.joinpath("status.html").read_text(encoding="utf-8")
    for name in _VENDORED:
        html = html.replace(f"/*{name}*/", package.joinpath("vendor", name).read_text(encoding="utf-8"), 1)
    return html.encode("utf-8")


__all__ = [
    "HOOKS_PATH",
    "CurrentModel",
    "ServedModel",
    "ServiceMonitor",
    "current_model_of",
    "histogram_quantile",
    "hooks_for",
    "monitor_hooks",
    "peak_psi",
    "status_page",
]
