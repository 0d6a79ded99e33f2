"""The last hour of a service, one point per minute (the status page's charts)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nlpops.monitor.history import MinuteHistory, histogram_quantile

INF = float("inf")


def _buckets(fast: float, slow: float) -> list[tuple[float, float]]:
    """Cumulative buckets: ``fast`` requests under 10 ms, ``slow`` ones between 0.5 s and 1 s."""
    return [(0.01, fast), (0.5, fast), (1.0, fast + slow), (INF, fast + slow)]


def test_a_minute_counts_what_happened_since_the_previous_minute() -> None:
    history = MinuteHistory(histogram_quantile)
    history.record(0.0, 0, 0, _buckets(0, 0))
    history.record(50.0, 100, 2, _buckets(0, 100), drift_psi=0.05)  # a slow first minute
    history.record(70.0, 130, 2, _buckets(30, 100))  # the second minute starts from the totals at 50 s
    history.record(110.0, 200, 3, _buckets(100, 100), drift_psi=0.3)
    first, second = history.points()
    assert first["t"] == 0.0 and first["rps"] == 2.0 and first["errors"] == 2 and first["drift_psi"] == 0.05
    assert first["p50_ms"] is not None and first["p50_ms"] > 500
    # 100 fast requests in 60 s; the slow ones of the first minute are not in this minute's percentiles
    assert second["t"] == 60.0 and abs(second["rps"] - 100 / 60) < 1e-9 and second["errors"] == 1
    assert second["p99_ms"] is not None and second["p99_ms"] <= 10.0
    assert second["drift_psi"] == 0.3


def test_quiet_minutes_have_no_latency_and_the_ring_keeps_an_hour() -> None:
    history = MinuteHistory(histogram_quantile, minutes=60)
    for minute in range(90):
        history.record(minute * 60.0, 7, 0, _buckets(7, 0))
    points = history.points()
    assert len(points) == 60 and points[0]["t"] == 30 * 60.0 and points[-1]["t"] == 89 * 60.0
    assert all(p["rps"] == 0.0 and p["p95_ms"] is None for p in points)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.1, 200.0), st.integers(0, 50), st.integers(0, 5), st.integers(0, 50)),
        min_size=1,
        max_size=40,
    )
)
def test_points_are_ordered_and_never_negative(steps: list[tuple[float, int, int, int]]) -> None:
    history = MinuteHistory(histogram_quantile, minutes=5)
    now, requests, errors, fast = 1000.0, 0, 0, 0
    for gap, more, failed, quick in steps:
        now, requests, errors, fast = now + gap, requests + more, errors + min(failed, more), fast + min(quick, more)
        history.record(now, requests, errors, _buckets(fast, requests - fast))
    points = history.points()
    assert 1 <= len(points) <= 5
    assert [p["t"] for p in points] == sorted({p["t"] for p in points})
    for p in points:
        assert p["rps"] >= 0 and p["errors"] >= 0
        assert p["p50_ms"] is None or 0 <= p["p50_ms"] <= 1000.0
