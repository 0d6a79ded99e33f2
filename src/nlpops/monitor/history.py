"""The last hour of a service, one point per minute, for the status page's charts.

A :class:`MinuteHistory` is a ring of at most ``minutes`` points. Each :meth:`MinuteHistory.record` gets the
service's running totals (classify requests, 5xx errors, the cumulative latency histogram) and the drift of the
moment; the point of the current minute is what happened since the last record of the previous minute:
requests per second, latency percentiles of those requests (from the histogram's bucket deltas, as PromQL's
``histogram_quantile`` of an ``increase``), errors, and the largest PSI of the drift window. The monitor
records on every refresh (``monitoring.flush_interval_s``) and on every ``GET /v1/status``.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from nlpops.monitor.drift import DriftReport

Buckets = Sequence[tuple[float, float]]  # cumulative (upper bound, count), sorted, ending with +Inf


@dataclass(frozen=True)
class MinutePoint:
    """One minute of the service (``t``: the minute's start, Unix seconds)."""

    t: float
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    errors: int
    drift_psi: float | None


@dataclass(frozen=True)
class _Totals:
    at: float
    requests: float
    errors: float
    buckets: tuple[tuple[float, float], ...]


class MinuteHistory:
    """Per-minute points of the last ``minutes`` minutes (thread-safe).

    Args:
        quantile: computes a quantile in milliseconds from cumulative buckets (``histogram_quantile``).
        minutes: how many points to keep.
        minute_s: the length of a point.
    """

    def __init__(
        self, quantile: Callable[[float, Buckets], float | None], *, minutes: int = 60, minute_s: float = 60.0
    ) -> None:
        self.quantile = quantile
        self.minutes = minutes
        self.minute_s = minute_s
        self._points: deque[MinutePoint] = deque(maxlen=minutes)
        self._base: _Totals | None = None  # the totals the current minute is measured from
        self._last: _Totals | None = None  # the totals of the latest record
        self._minute: int | None = None
        self._lock = threading.Lock()

    def record(
        self, now: float, requests: float, errors: float, buckets: Buckets, drift_psi: float | None = None
    ) -> None:
        """Update the current minute's point from the running totals at ``now``."""
        totals = _Totals(now, float(requests), float(errors), tuple(buckets))
        minute = math.floor(now / self.minute_s)
        with self._lock:
            if self._minute != minute:
                self._base = self._last or totals  # the first record of all: nothing to measure yet
                self._minute = minute
            self._last = totals
            base = self._base
            assert base is not None
            span = totals.at - base.at
            delta = _delta(totals.buckets, base.buckets)
            point = MinutePoint(
                t=minute * self.minute_s,
                rps=(totals.requests - base.requests) / span if span > 0 else 0.0,
                p50_ms=self.quantile(0.5, delta),
                p95_ms=self.quantile(0.95, delta),
                p99_ms=self.quantile(0.99, delta),
                errors=int(totals.errors - base.errors),
                drift_psi=drift_psi,
            )
            if self._points and self._points[-1].t == point.t:
                self._points[-1] = point
            else:
                self._points.append(point)

    def points(self) -> list[dict[str, float | int | None]]:
        """The points, oldest first, as JSON-ready dicts."""
        with self._lock:
            return [asdict(p) for p in self._points]


def _delta(now: Sequence[tuple[float, float]], before: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Bucket counts added since ``before`` (a bucket ``before`` lacks counts from zero)."""
    earlier = dict(before)
    return [(bound, max(count - earlier.get(bound, 0.0), 0.0)) for bound, count in now]


def peak_psi(report: DriftReport | None) -> float | None:
    """The largest PSI of a report's overall checks (None without a verdict: too few live texts, or loading)."""
    if report is None or report.status == "insufficient_data":
        return None
    overall = [check.psi for check in report.checks if check.lang == "*"]
    return max(overall) if overall else None


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """A quantile in milliseconds from cumulative Prometheus buckets ``(le, count)``, as PromQL computes it.

    Args:
        q: the quantile, e.g. 0.95.
        buckets: cumulative counts by upper bound, sorted, ending with ``+Inf``.

    Returns:
        Milliseconds, or None without observations.
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower * 1000.0
            inside = count - below
            share = (rank - below) / inside if inside > 0 else 1.0
            return (lower + (upper - lower) * share) * 1000.0
        lower, below = upper, count
    return lower * 1000.0


__all__ = ["Buckets", "MinuteHistory", "MinutePoint", "histogram_quantile", "peak_psi"]
