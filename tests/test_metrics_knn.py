"""Nearest-neighbour label accuracy of an embedding model (leave-one-out), against a brute-force count."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpops.errors import TaskError
from nlpops.metrics import knn_report, task_report


def _brute_force(labels: list[str], vectors: np.ndarray, k: int) -> float:
    hits = 0
    for i in range(len(labels)):
        others = sorted((j for j in range(len(labels)) if j != i), key=lambda j: -float(vectors[i] @ vectors[j]))
        votes = [labels[j] for j in others[:k]]
        counts = Counter(votes)
        best = max(counts.values())
        hits += next(v for v in votes if counts[v] == best) == labels[i]
    return hits / len(labels)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(min_value=2, max_value=40),
    n_labels=st.integers(min_value=1, max_value=5),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_knn_accuracy_equals_a_brute_force_count(rows: int, n_labels: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((rows, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels = [f"l{x}" for x in rng.integers(0, n_labels, rows)]
    report = knn_report(labels, vectors)
    assert report["rows"] == rows and report["labels"] == len(set(labels))
    assert report["knn_accuracy"] == pytest.approx(_brute_force(labels, vectors, 1))
    assert report["knn5_accuracy"] == pytest.approx(_brute_force(labels, vectors, 5))


def test_knn_leaves_the_text_itself_out_and_keeps_neighbours_within_a_language() -> None:
    # a text and its translation are each other's nearest vectors; within a language the neighbour is another text
    vectors = np.asarray([[1, 0, 0], [0.6, 0.8, 0], [0.99, 0, 0.141], [0.6, 0.79, 0.1]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    labels, langs = ["a", "a", "b", "b"], ["en", "en", "de", "de"]
    assert knn_report(labels, vectors)["knn_accuracy"] == 0.0  # across languages: the translations
    report = knn_report(labels, vectors, langs)
    assert report["knn_accuracy"] == 1.0 and set(report["per_language"]) == {"de", "en"}
    assert report["per_language"]["en"] == {"rows": 2, "knn_accuracy": 1.0, "knn5_accuracy": 1.0}


def test_knn_needs_a_label_per_text() -> None:
    with pytest.raises(TaskError, match="needs one label per text; got 0 labels for 3 vectors"):
        task_report("embedding", [], np.eye(3, dtype=np.float32), [])
