"""Reference statistics recorded in a bundle at training time, the baseline for drift detection.

What is counted follows the task's drift statistics (:data:`nlpops.tasks.TASKS`): text length always; the
predicted-label mix and confidence for classifiers; labels (or entities) per text for multilabel and entity
models; for embedding models the sums and cross products of the vectors projected on a fixed random basis of
:data:`PROJECTION_DIM` dimensions (:func:`embedding_counts`), enough for the mean and covariance a two-sample
test needs. "Predicted labels" are :func:`nlpops.tasks.predicted_counts`, the same counts the live monitor keeps.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np

from nlpops.tasks import CARDINALITY_EDGES, TASKS, TaskName, TaskOutput, predicted_counts

# Fixed bin edges, shared by the reference and live statistics so they compare directly.
LENGTH_EDGES = [0, 10, 20, 40, 60, 80, 120, 160, 240, 320, 480, 640, 1000, 2000, 5000]
CONFIDENCE_EDGES = [0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0]
_WORD = re.compile(r"\b\w\w+\b")
PROJECTION_DIM = 16
"""Dimensions of the random projection the embedding drift statistics are kept in (Lopes, Jacob and Wainwright,
2011: Hotelling's test after a random projection keeps its power in high dimensions, with k x k counters only)."""
_SPLITMIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def histogram(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts of ``values`` in the bins of ``edges``; values beyond the last edge fall in the last bin."""
    if not len(values):
        return [0] * (len(edges) - 1)
    clipped = np.clip(np.asarray(values, dtype=np.float64), edges[0], edges[-1])
    counts, _ = np.histogram(clipped, bins=np.asarray(edges, dtype=np.float64))
    return [int(c) for c in counts]


def oov_counts(texts: Sequence[str], vocabulary: AbstractSet[str]) -> tuple[np.ndarray, np.ndarray]:
    """Word tokens and out-of-vocabulary word tokens per text (lowercased words of two or more characters,
    the TF-IDF family's token pattern).

    Returns:
        ``(tokens, oov)``: two int64 arrays of ``len(texts)``.
    """
    tokens = np.zeros(len(texts), dtype=np.int64)
    oov = np.zeros(len(texts), dtype=np.int64)
    for row, text in enumerate(texts):
        words = _WORD.findall(text.lower())
        tokens[row] = len(words)
        oov[row] = sum(word not in vocabulary for word in words)
    return tokens, oov


def oov_rate(texts: Sequence[str], vocabulary: AbstractSet[str]) -> float:
    """Share of word tokens not in ``vocabulary``."""
    tokens, oov = oov_counts(texts, vocabulary)
    total = int(tokens.sum())
    return int(oov.sum()) / total if total else 0.0


def projection(dim: int, k: int = PROJECTION_DIM) -> np.ndarray:
    """The fixed random basis ``(dim, k)`` of the embedding statistics: entries ``±1/sqrt(k)`` from a counter-based
    hash (splitmix64), so a reference recorded on one machine compares with live counts from any other."""
    z = np.arange(dim * k, dtype=np.uint64) + _SPLITMIX[0]
    z = (z ^ (z >> np.uint64(30))) * _SPLITMIX[1]
    z = (z ^ (z >> np.uint64(27))) * _SPLITMIX[2]
    z = z ^ (z >> np.uint64(31))
    signs = np.where((z & np.uint64(1)) == 1, 1.0, -1.0)
    return np.asarray(signs.reshape(dim, k) / np.sqrt(k))


def embedding_counts(vectors: np.ndarray) -> dict[str, list[float]]:
    """The additive counters of the embedding drift statistic for ``vectors`` ``(n, dim)``: the sum of their
    projections (``sum``, k values) and of the projections' outer products (``outer``, k x k values, row-major).
    Divided by the rows they give the projected mean and covariance."""
    z = np.asarray(vectors, dtype=np.float64) @ projection(int(np.shape(vectors)[1]))
    return {"sum": z.sum(axis=0).tolist(), "outer": (z.T @ z).ravel().tolist()}


def task_keys(task: TaskName) -> frozenset[str]:
    """The statistics keys a task's drift checks read (``length_hist``, ``cardinality_hist``...)."""
    return frozenset(statistic.key for statistic in TASKS[task].drift_statistics)


def task_counts(task: TaskName, counts: np.ndarray, output: TaskOutput | None = None) -> dict[str, Any]:
    """The additive counters a task's drift statistics need beyond length, confidence and the label mix.

    Args:
        task: the model's task.
        counts: :func:`~nlpops.tasks.predicted_counts` of the texts (one row per text).
        output: the model's answer for the same texts (the vectors of an embedding model).

    Returns:
        ``{"cardinality_hist": [...]}`` (labels or entities per text) for multilabel and entity models,
        ``{"embedding": {"sum", "outer"}}`` (:func:`embedding_counts`) for embedding models, else ``{}``. Values
        add up across windows (lists element-wise, numbers, dicts per key).
    """
    out: dict[str, Any] = {}
    keys = task_keys(task)
    if "cardinality_hist" in keys:
        out["cardinality_hist"] = histogram(counts.sum(axis=1).tolist(), CARDINALITY_EDGES)
    if "embedding" in keys and output is not None and len(output):
        out["embedding"] = embedding_counts(np.asarray(output))
    return out


def rows_of(output: TaskOutput, rows: Sequence[int] | np.ndarray) -> TaskOutput:
    """The answers for the texts at ``rows`` (an array's rows, or the items of a list of spans)."""
    if isinstance(output, np.ndarray):
        return output[np.asarray(rows, dtype=np.intp)]
    return [output[int(i)] for i in rows]


def reference_statistics(
    texts: Sequence[str],
    proba: TaskOutput,
    labels: Sequence[str],
    langs: Sequence[str] | None = None,
    vocabulary: set[str] | None = None,
    *,
    task: TaskName = "classification",
    thresholds: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Text length, language mix, predicted labels, confidence (and OOV counts and rate) of a sample of texts.

    ``proba`` is the model's output for ``texts`` in its task's form (probabilities for classifiers); for a
    multilabel or entity model ``cardinality_hist`` counts the labels (entities) predicted per text.

    With a ``vocabulary`` (vocabulary-based models), ``tokens`` and ``oov_tokens`` count word tokens and those
    not in it, the baseline of the live out-of-vocabulary check, and ``oov_rate`` is their ratio.

    With more than one language, ``by_language`` holds the length, confidence and label statistics of each
    language, the baseline of per-language drift detection.
    """
    counts, scores = predicted_counts(task, proba, labels, thresholds)
    confidence = scores if scores is not None else np.zeros(0)
    keys = task_keys(task)
    stats: dict[str, Any] = {
        "rows": len(texts),
        "length_edges": LENGTH_EDGES,
        "length_hist": histogram([len(t) for t in texts], LENGTH_EDGES),
        "confidence_edges": CONFIDENCE_EDGES,
        "confidence_hist": histogram(confidence.tolist(), CONFIDENCE_EDGES),
        "label_counts": {label: int(counts[:, i].sum()) for i, label in enumerate(labels)},
        "languages": dict(Counter(langs)) if langs is not None else {},
    }
    if "cardinality_hist" in keys:
        stats["cardinality_edges"] = CARDINALITY_EDGES
    stats.update(task_counts(task, counts, proba))
    tokens = oov = None
    if vocabulary is not None:
        tokens, oov = oov_counts(texts, vocabulary)
        stats["tokens"], stats["oov_tokens"] = int(tokens.sum()), int(oov.sum())
        stats["oov_rate"] = stats["oov_tokens"] / stats["tokens"] if stats["tokens"] else 0.0
    if langs is not None and len(set(langs)) > 1:
        by_language = {}
        for lang in sorted(set(langs)):
            rows = [i for i, x in enumerate(langs) if x == lang]
            by_language[lang] = _language_statistics(texts, counts, confidence, labels, rows)
            by_language[lang].update(task_counts(task, counts[rows], rows_of(proba, rows)))
            if tokens is not None and oov is not None:
                by_language[lang]["tokens"] = int(tokens[rows].sum())
                by_language[lang]["oov_tokens"] = int(oov[rows].sum())
        stats["by_language"] = by_language
    return stats


def _language_statistics(
    texts: Sequence[str], counts: np.ndarray, confidence: np.ndarray, labels: Sequence[str], rows: list[int]
) -> dict[str, Any]:
    """Length, confidence and label statistics of the texts at ``rows`` (one language)."""
    index = np.asarray(rows, dtype=np.int64)
    chosen = counts[index]
    return {
        "rows": len(rows),
        "length_hist": histogram([len(texts[i]) for i in rows], LENGTH_EDGES),
        "confidence_hist": histogram(confidence[index].tolist() if len(confidence) else [], CONFIDENCE_EDGES),
        "label_counts": {label: int(chosen[:, i].sum()) for i, label in enumerate(labels)},
    }


__all__ = [
    "CONFIDENCE_EDGES",
    "LENGTH_EDGES",
    "PROJECTION_DIM",
    "embedding_counts",
    "histogram",
    "oov_counts",
    "oov_rate",
    "projection",
    "reference_statistics",
    "rows_of",
    "task_counts",
    "task_keys",
]
