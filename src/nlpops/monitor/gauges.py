"""Drift scores as Prometheus gauges, registered on a ``CollectorRegistry`` the caller owns."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Gauge

from nlpops.monitor.drift import DriftReport

DRIFT_PSI = "nlpops_drift_psi"
DRIFT_P_VALUE = "nlpops_drift_p_value"
DRIFT_DETECTED = "nlpops_drift_detected"
LIVE_ROWS = "nlpops_drift_live_rows"


class DriftGauges:
    """The drift gauges of one service instance.

    ``nlpops_drift_psi``, ``nlpops_drift_p_value`` and ``nlpops_drift_detected`` (0/1) carry the labels
    ``model``, ``version``, ``statistic`` and ``lang`` (``*`` for all texts); ``nlpops_drift_live_rows``
    counts the live texts the verdict is based on.

    Args:
        registry: the registry to add the gauges to (e.g. the service's ``ServiceMetrics.registry``).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["model", "version", "statistic", "lang"]
        # With several workers each one computes drift over the shared store; the most recent verdict of a
        # live worker is the service's (not one series per worker pid).
        mode: Final = "livemostrecent"
        self.psi = Gauge(
            DRIFT_PSI,
            "Population stability index, live vs reference",
            labels,
            registry=registry,
            multiprocess_mode=mode,
        )
        self.p_value = Gauge(
            DRIFT_P_VALUE,
            "p-value of the drift test (KS or chi-squared)",
            labels,
            registry=registry,
            multiprocess_mode=mode,
        )
        self.detected = Gauge(
            DRIFT_DETECTED,
            "1 when the statistic drifted (PSI and p-value beyond thresholds)",
            labels,
            registry=registry,
            multiprocess_mode=mode,
        )
        self.live_rows = Gauge(
            LIVE_ROWS, "Live texts in the drift window", ["model", "version"], registry=registry, multiprocess_mode=mode
        )

    def update(self, report: DriftReport) -> None:
        """Set every gauge from ``report``.

        Args:
            report: the latest drift report of one model version.
        """
        for check in report.checks:
            values = (report.model, report.version, check.statistic, check.lang)
            self.psi.labels(*values).set(check.psi)
            self.p_value.labels(*values).set(check.p_value)
            self.detected.labels(*values).set(1.0 if check.drifted else 0.0)
        self.live_rows.labels(report.model, report.version).set(report.live_rows)


__all__ = ["DRIFT_DETECTED", "DRIFT_PSI", "DRIFT_P_VALUE", "LIVE_ROWS", "DriftGauges"]
