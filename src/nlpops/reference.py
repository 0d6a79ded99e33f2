"""Reference statistics recorded in a bundle at training time, the baseline for drift detection."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np

# Fixed bin edges, shared by the reference and live statistics so they compare directly.
LENGTH_EDGES = [0, 10, 20, 40, 60, 80, 120, 160, 240, 320, 480, 640, 1000, 2000, 5000]
CONFIDENCE_EDGES = [0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0]
_WORD = re.compile(r"\b\w\w+\b")


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


def reference_statistics(
    texts: Sequence[str],
    proba: np.ndarray,
    labels: Sequence[str],
    langs: Sequence[str] | None = None,
    vocabulary: set[str] | None = None,
) -> dict[str, Any]:
    """Text length, language mix, predicted labels, confidence (and OOV counts and rate) of a sample of texts.

    With a ``vocabulary`` (vocabulary-based models), ``tokens`` and ``oov_tokens`` count word tokens and those
    not in it, the baseline of the live out-of-vocabulary check, and ``oov_rate`` is their ratio.

    With more than one language, ``by_language`` holds the length, confidence and label statistics of each
    language, the baseline of per-language drift detection.
    """
    predicted = proba.argmax(axis=1) if len(texts) else np.zeros(0, dtype=int)
    confidence = proba.max(axis=1) if len(texts) else np.zeros(0)
    stats: dict[str, Any] = {
        "rows": len(texts),
        "length_edges": LENGTH_EDGES,
        "length_hist": histogram([len(t) for t in texts], LENGTH_EDGES),
        "confidence_edges": CONFIDENCE_EDGES,
        "confidence_hist": histogram(confidence.tolist(), CONFIDENCE_EDGES),
        "label_counts": {label: int((predicted == i).sum()) for i, label in enumerate(labels)},
        "languages": dict(Counter(langs)) if langs is not None else {},
    }
    tokens = oov = None
    if vocabulary is not None:
        tokens, oov = oov_counts(texts, vocabulary)
        stats["tokens"], stats["oov_tokens"] = int(tokens.sum()), int(oov.sum())
        stats["oov_rate"] = stats["oov_tokens"] / stats["tokens"] if stats["tokens"] else 0.0
    if langs is not None and len(set(langs)) > 1:
        by_language = {}
        for lang in sorted(set(langs)):
            rows = [i for i, x in enumerate(langs) if x == lang]
            by_language[lang] = _language_statistics(texts, predicted, confidence, labels, rows)
            if tokens is not None and oov is not None:
                by_language[lang]["tokens"] = int(tokens[rows].sum())
                by_language[lang]["oov_tokens"] = int(oov[rows].sum())
        stats["by_language"] = by_language
    return stats


def _language_statistics(
    texts: Sequence[str], predicted: np.ndarray, confidence: np.ndarray, labels: Sequence[str], rows: list[int]
) -> dict[str, Any]:
    """Length, confidence and label statistics of the texts at ``rows`` (one language)."""
    index = np.asarray(rows, dtype=np.int64)
    chosen = predicted[index]
    return {
        "rows": len(rows),
        "length_hist": histogram([len(texts[i]) for i in rows], LENGTH_EDGES),
        "confidence_hist": histogram(confidence[index].tolist(), CONFIDENCE_EDGES),
        "label_counts": {label: int((chosen == i).sum()) for i, label in enumerate(labels)},
    }


__all__ = ["CONFIDENCE_EDGES", "LENGTH_EDGES", "histogram", "oov_counts", "oov_rate", "reference_statistics"]
