"""Has the mean of an embedding model's vectors moved? Hotelling's two-sample T² test on projected vectors.

The reference and the live window each keep, in a fixed random projection of k dimensions
(:func:`nlpops.reference.embedding_counts`), the sum of the projected vectors and the sum of their outer products:
from these come both means and the pooled covariance ``S``. With ``m`` reference and ``n`` live vectors and
``d`` the difference of the means,

- ``D² = dᵀ S⁻¹ d`` is the squared Mahalanobis distance of the live mean from the reference mean, and
- ``T² = m n / (m + n) · D²``; ``F = (m + n - k - 1) / (k (m + n - 2)) · T²`` follows the F distribution with
  ``(k, m + n - k - 1)`` degrees of freedom when both samples come from one distribution (exactly for normal
  vectors, asymptotically for any: the means are normal by the central limit theorem).

So a verdict "drifted" at ``p < p_value`` raises a false alarm on ``p_value`` of the windows drawn from the
reference distribution (tests/monitor/test_drift_embedding.py measures it). The size of the shift is ``D²`` less
its expectation under no drift, ``k (1/m + 1/n)``: for normal vectors of one covariance ``D²`` is their Jeffreys
divergence (symmetric Kullback-Leibler), the quantity PSI measures for binned statistics, so the monitor's one
``psi`` threshold says how large a shift must be for every statistic alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_RIDGE = 1e-9


@dataclass(frozen=True)
class MeanShift:
    """The comparison of a live window's projected mean with the reference's.

    Attributes:
        distance: ``D²`` less its expectation under no drift (at least 0): the size of the shift.
        t2: Hotelling's ``T²``.
        p_value: the probability of a ``T²`` at least this large when nothing drifted.
        dims: the projection's dimensions ``k``.
    """

    distance: float
    t2: float
    p_value: float
    dims: int


def _moments(rows: int, total: Sequence[float], outer: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    k = len(total)
    mean = np.asarray(total, dtype=np.float64) / rows
    scatter = np.asarray(outer, dtype=np.float64).reshape(k, k) - rows * np.outer(mean, mean)
    return mean, scatter


def hotelling_two_sample(
    reference_rows: int,
    reference_sum: Sequence[float],
    reference_outer: Sequence[float],
    live_rows: int,
    live_sum: Sequence[float],
    live_outer: Sequence[float],
) -> MeanShift | None:
    """Hotelling's two-sample test from additive counters (sums and outer-product sums of projected vectors).

    Args:
        reference_rows: ``m``, the reference vectors counted.
        reference_sum: the sum of the projected reference vectors (k values).
        reference_outer: the sum of their outer products (k x k values, row-major).
        live_rows: ``n``, the live vectors counted.
        live_sum: as ``reference_sum``, for the live window.
        live_outer: as ``reference_outer``, for the live window.

    Returns:
        The shift and its test, or None when the counters do not allow a test (fewer rows than ``k + 2`` in all,
        or counters of another projection).
    """
    from scipy.stats import f as f_distribution

    k = len(reference_sum)
    m, n = int(reference_rows), int(live_rows)
    sizes_ok = len(live_sum) == k and len(reference_outer) == len(live_outer) == k * k
    if not sizes_ok or k < 1 or m < 2 or n < 2 or m + n - k - 1 < 1:
        return None
    mean_ref, scatter_ref = _moments(m, reference_sum, reference_outer)
    mean_live, scatter_live = _moments(n, live_sum, live_outer)
    pooled = (scatter_ref + scatter_live) / (m + n - 2)
    pooled += np.eye(k) * (_RIDGE * max(float(np.trace(pooled)) / k, 1e-30))
    difference = mean_live - mean_ref
    try:
        d2 = float(difference @ np.linalg.solve(pooled, difference))
    except np.linalg.LinAlgError:
        return None
    t2 = m * n / (m + n) * d2
    f_value = (m + n - k - 1) / (k * (m + n - 2)) * t2
    p_value = float(f_distribution.sf(f_value, k, m + n - k - 1))
    return MeanShift(max(0.0, d2 - k * (1.0 / m + 1.0 / n)), t2, p_value, k)


__all__ = ["MeanShift", "hotelling_two_sample"]
