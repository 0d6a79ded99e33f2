"""Multi-label training shared by every family: per-label thresholds tuned on held-out data.

A family's multi-label trainer fits independent per-label probabilities. :func:`train_with_thresholds` holds
out part of the training data (every label keeps examples on the fitting side), fits, picks for each label the
threshold that maximises its F1 on the held-out texts (:func:`tune_thresholds`), then refits on all the
training data and gives the model those thresholds. The bundle stores them (``manifest.thresholds``); every
runtime, the service, batch and evaluation predict a label when its probability reaches its threshold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nlpops.errors import FamilyError
from nlpops.families.base import ProbabilityModel
from nlpops.metrics import indicator

THRESHOLD_GRID = np.round(np.arange(0.02, 0.99, 0.01), 2)
"""The thresholds tried for each label."""
DEFAULT_THRESHOLD = 0.5
"""A label without examples among the held-out texts keeps this threshold."""


def tune_thresholds(proba: np.ndarray, truth: np.ndarray, grid: np.ndarray = THRESHOLD_GRID) -> list[float]:
    """For each label (column), the threshold of ``grid`` with the best F1 on held-out texts.

    Ties go to the threshold closest to 0.5 (the least surprising choice). A label that no held-out text has
    keeps :data:`DEFAULT_THRESHOLD`.

    Args:
        proba: per-label probabilities of the held-out texts, ``(n, n_labels)``.
        truth: the gold labels of the same texts, boolean ``(n, n_labels)``.
        grid: the candidate thresholds.

    Returns:
        One threshold per label.
    """
    chosen: list[float] = []
    above = proba[:, :, None] >= grid[None, None, :]  # (n, labels, thresholds)
    gold = truth[:, :, None]
    tp = (above & gold).sum(axis=0)
    fp = (above & ~gold).sum(axis=0)
    fn = (~above & gold).sum(axis=0)
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    for column in range(proba.shape[1]):
        if not truth[:, column].any():
            chosen.append(DEFAULT_THRESHOLD)
            continue
        best = f1[column].max()
        candidates = grid[np.isclose(f1[column], best)]
        chosen.append(float(candidates[np.argmin(np.abs(candidates - DEFAULT_THRESHOLD))]))
    return chosen


def holdout_split(label_sets: Sequence[Sequence[str]], share: float, seed: int) -> tuple[list[int], list[int]]:
    """Rows to fit on and rows to tune thresholds on (about ``share`` of them), at random.

    A row is held out only while each of its labels keeps at least one example on the fitting side, so the
    first fit learns every label.

    Returns:
        ``(fit_rows, holdout_rows)``, each sorted.
    """
    remaining = Counter(label for answer in label_sets for label in answer)
    target = round(len(label_sets) * share)
    held: list[int] = []
    for row in np.random.default_rng(seed).permutation(len(label_sets)).tolist():
        if len(held) >= target:
            break
        if all(remaining[label] > 1 for label in label_sets[row]):
            held.append(row)
            for label in label_sets[row]:
                remaining[label] -= 1
    kept = set(held)
    return [i for i in range(len(label_sets)) if i not in kept], sorted(held)


def train_with_thresholds(
    fit: Callable[[list[str], list[tuple[str, ...]]], Any],
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    *,
    holdout: float,
    seed: int,
) -> ProbabilityModel:
    """Fit a multi-label model whose per-label thresholds were tuned on held-out data.

    Args:
        fit: the family's multi-label trainer over (texts, label sets).
        texts: preprocessed training texts.
        label_sets: the labels of each text.
        holdout: the share of ``texts`` held out for tuning (``model.thresholds_holdout``).
        seed: the split's seed (``data.seed``).

    Returns:
        The model fitted on all ``texts``, with ``thresholds`` set (label order).

    Raises:
        FamilyError: too little data to hold any text out.
    """
    answers = [tuple(answer) for answer in label_sets]
    fit_rows, held = holdout_split(answers, holdout, seed)
    if not held:
        raise FamilyError(
            f"Cannot hold out texts to tune the thresholds of {len(answers)} multi-label texts: every label needs "
            "at least 2 examples. Add data or raise model.thresholds_holdout."
        )
    first: ProbabilityModel = fit([texts[i] for i in fit_rows], [answers[i] for i in fit_rows])
    proba = np.asarray(first.predict_proba([texts[i] for i in held]))
    thresholds = tune_thresholds(proba, indicator([answers[i] for i in held], first.labels))
    model: ProbabilityModel = fit(list(texts), answers)
    if model.labels != first.labels:  # the fitting side keeps every label, so this cannot happen
        raise FamilyError("The labels changed between the tuning fit and the final fit. This is a bug in nlpops.")
    model.thresholds = thresholds
    return model


__all__ = ["DEFAULT_THRESHOLD", "THRESHOLD_GRID", "holdout_split", "train_with_thresholds", "tune_thresholds"]
