"""Evaluation metrics per task: one report function per task in :data:`TASK_REPORTS`, called through
:func:`task_report` by training, ``nlpops evaluate`` and retraining.

- classification: accuracy, macro-F1, per-class scores, confusion matrix, per language.
- multilabel: micro- and macro-F1 over labels, exact-match ratio, per-label precision/recall/F1 with the
  threshold used, per language.
- entities: exact-span and partial-overlap precision/recall/F1, overall and per entity type, per language
  (:func:`entities_report`, computed with nervaluate).
- embedding: leave-one-out nearest-neighbour label accuracy (:func:`knn_report`), per language.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nlpops.errors import TaskError
from nlpops.tasks import Span, Spans, TaskName, TaskOutput, label_decisions


def classification_report(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str], langs: Sequence[str] | None = None
) -> dict[str, Any]:
    """Metrics of predictions against gold labels; ``per_language`` when languages are given.

    Returns:
        ``{"rows", "accuracy", "macro_f1", "per_class": {label: {precision, recall, f1, support}},
        "confusion_matrix": {"labels": [...], "matrix": [[...]]}, "per_language": {lang: {...}}}``
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    labels = list(labels)
    report: dict[str, Any] = {"rows": len(y_true)}
    if not y_true:
        return {**report, "accuracy": 0.0, "macro_f1": 0.0, "per_class": {}}
    report["accuracy"] = float(accuracy_score(y_true, y_pred))
    present = sorted(set(y_true) | set(y_pred))
    report["macro_f1"] = float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    report["per_class"] = {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    report["confusion_matrix"] = {
        "labels": labels,
        "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
    if langs is not None:
        per_lang: dict[str, Any] = {}
        for lang in sorted(set(langs)):
            idx = [i for i, x in enumerate(langs) if x == lang]
            t = [y_true[i] for i in idx]
            p = [y_pred[i] for i in idx]
            present = sorted(set(t) | set(p))
            per_lang[lang] = {
                "rows": len(idx),
                "accuracy": float(accuracy_score(t, p)),
                "macro_f1": float(f1_score(t, p, labels=present, average="macro", zero_division=0)),
            }
        report["per_language"] = per_lang
    return report


def multilabel_report(
    gold: Sequence[Sequence[str]],
    proba: np.ndarray,
    labels: Sequence[str],
    thresholds: Sequence[float],
    langs: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Metrics of a multi-label model's predictions (``proba >= thresholds``) against gold label sets.

    Gold labels the model does not know count as missed (they lower recall in ``micro_f1``, not per label).

    Returns:
        ``{"rows", "micro_f1", "macro_f1", "samples_f1", "exact_match", "label_cardinality",
        "per_label": {label: {precision, recall, f1, support, threshold}}, "thresholds": {label: t},
        "unknown_labels": n, "per_language": {lang: {rows, micro_f1, macro_f1}}}``
    """
    labels = list(labels)
    truth = indicator(gold, labels)
    predicted = label_decisions(np.asarray(proba), thresholds) if len(gold) else np.zeros((0, len(labels)), bool)
    unknown = sum(1 for answer in gold for label in answer if label not in set(labels))
    report: dict[str, Any] = {"rows": len(gold), **_multilabel_scores(truth, predicted, unknown)}
    if len(gold):
        hits = (truth & predicted).sum(axis=1)
        report["samples_f1"] = float(np.mean(2 * hits / np.maximum(truth.sum(axis=1) + predicted.sum(axis=1), 1)))
        report["exact_match"] = float(np.mean((truth == predicted).all(axis=1)))
        report["label_cardinality"] = float(predicted.sum(axis=1).mean())
    tp = (truth & predicted).sum(axis=0)
    precision = tp / np.maximum(predicted.sum(axis=0), 1)
    recall = tp / np.maximum(truth.sum(axis=0), 1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    report["per_label"] = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(truth[:, i].sum()),
            "threshold": float(thresholds[i]),
        }
        for i, label in enumerate(labels)
    }
    report["thresholds"] = {label: float(t) for label, t in zip(labels, thresholds, strict=True)}
    report["unknown_labels"] = unknown
    if langs is not None:
        per_lang: dict[str, Any] = {}
        for lang in sorted(set(langs)):
            idx = np.asarray([i for i, x in enumerate(langs) if x == lang], dtype=np.intp)
            per_lang[lang] = {"rows": len(idx), **_multilabel_scores(truth[idx], predicted[idx], 0)}
        report["per_language"] = per_lang
    return report


def indicator(gold: Sequence[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    """A boolean matrix ``(len(gold), len(labels))``: which of ``labels`` each gold label set holds."""
    index = {label: i for i, label in enumerate(labels)}
    out = np.zeros((len(gold), len(labels)), dtype=bool)
    for row, answer in enumerate(gold):
        for label in answer:
            column = index.get(label)
            if column is not None:
                out[row, column] = True
    return out


def _multilabel_scores(truth: np.ndarray, predicted: np.ndarray, unknown: int) -> dict[str, float]:
    if not len(truth):
        return {"micro_f1": 0.0, "macro_f1": 0.0}
    tp = (truth & predicted).sum(axis=0).astype(np.float64)
    fp = (~truth & predicted).sum(axis=0).astype(np.float64)
    fn = (truth & ~predicted).sum(axis=0).astype(np.float64)
    micro_den = 2 * tp.sum() + fp.sum() + fn.sum() + unknown
    per_label = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    present = (truth.sum(axis=0) + predicted.sum(axis=0)) > 0
    macro = float(per_label[present].mean()) if present.any() else 0.0
    return {"micro_f1": float(2 * tp.sum() / micro_den) if micro_den else 0.0, "macro_f1": macro}


ReportFn = Callable[
    [Sequence[Any], TaskOutput, Sequence[str], Sequence[float] | None, Sequence[str] | None], dict[str, Any]
]
"""``(gold answers, model output, labels, thresholds, langs) -> report``: a task's evaluation."""


def _classification(
    gold: Sequence[Any],
    output: TaskOutput,
    labels: Sequence[str],
    thresholds: Sequence[float] | None,
    langs: Sequence[str] | None,
) -> dict[str, Any]:
    proba = np.asarray(output)
    predicted = [labels[i] for i in proba.argmax(axis=1).tolist()] if len(proba) else []
    return classification_report(list(gold), predicted, labels, langs)


def _multilabel(
    gold: Sequence[Any],
    output: TaskOutput,
    labels: Sequence[str],
    thresholds: Sequence[float] | None,
    langs: Sequence[str] | None,
) -> dict[str, Any]:
    if thresholds is None:
        raise TaskError("A multilabel evaluation needs the model's per-label thresholds.")
    return multilabel_report(gold, np.asarray(output), labels, thresholds, langs)


def entities_report(
    gold: Sequence[Sequence[Span]],
    predicted: Sequence[Sequence[Span]],
    labels: Sequence[str] = (),
    langs: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Exact-span and partial-overlap scores of predicted entity spans against gold spans, computed with
    nervaluate (SemEval 2013 task 9.1 schemes).

    ``f1`` (the headline), ``precision`` and ``recall`` count a predicted span as right when its start, end and
    type equal a gold span's (nervaluate's ``strict``: the same figures as spaCy's ``ents_p/r/f``); ``partial``
    credits a prediction that overlaps a gold span with other boundaries half (``partial``, types ignored).

    Args:
        gold: the gold spans of each text.
        predicted: the predicted spans of each text (character offsets into the same texts).
        labels: the model's entity types (each gets a ``per_type`` entry even when it never occurs).
        langs: each text's language, for per-language figures.

    Returns:
        ``{"rows", "precision", "recall", "f1", "partial": {"precision", "recall", "f1"}, "counts": {"gold",
        "predicted", "correct"}, "per_type": {type: {precision, recall, f1, partial_f1, support, predicted}},
        "per_language": {lang: {rows, precision, recall, f1}}}``
    """
    if len(gold) != len(predicted):
        raise TaskError(f"{len(predicted)} predicted span lists for {len(gold)} texts. This is a bug in nlpops.")
    types = sorted(
        {*labels, *(s.label for spans in gold for s in spans), *(s.label for spans in predicted for s in spans)}
    )
    overall, per_type = _nervaluate(gold, predicted, types)
    exact = overall["strict"]
    report: dict[str, Any] = {
        "rows": len(gold),
        **_prf(exact),
        "partial": _prf(overall["partial"]),
        "counts": {
            "gold": sum(len(spans) for spans in gold),
            "predicted": sum(len(spans) for spans in predicted),
            "correct": int(exact.correct),
        },
    }
    report["per_type"] = {
        label: {
            **(_prf(per_type[label]["strict"]) if label in per_type else {"precision": 0.0, "recall": 0.0, "f1": 0.0}),
            "partial_f1": float(per_type[label]["partial"].f1) if label in per_type else 0.0,
            "support": sum(1 for spans in gold for s in spans if s.label == label),
            "predicted": sum(1 for spans in predicted for s in spans if s.label == label),
        }
        for label in types
    }
    if langs is not None:
        per_lang: dict[str, Any] = {}
        for lang in sorted(set(langs)):
            rows = [i for i, x in enumerate(langs) if x == lang]
            scores, _ = _nervaluate([gold[i] for i in rows], [predicted[i] for i in rows], types)
            per_lang[lang] = {"rows": len(rows), **_prf(scores["strict"])}
        report["per_language"] = per_lang
    return report


def _nervaluate(
    gold: Sequence[Sequence[Span]], predicted: Sequence[Sequence[Span]], types: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """nervaluate's overall and per-type results (its spans have inclusive ends: ours are exclusive)."""
    from nervaluate import Evaluator

    def records(spans_of_texts: Sequence[Sequence[Span]]) -> list[list[dict[str, Any]]]:
        return [[{"label": s.label, "start": s.start, "end": s.end - 1} for s in spans] for spans in spans_of_texts]

    if not gold:
        empty = _EmptyResult()
        return {"strict": empty, "partial": empty}, {}
    # nervaluate infers its input format from the first text, so give it the dict format explicitly.
    results = Evaluator(records(gold), records(predicted), tags=types, loader="dict").evaluate()
    return results["overall"], results["entities"]


class _EmptyResult:
    precision = recall = f1 = 0.0
    correct = 0


def _prf(result: Any) -> dict[str, float]:
    return {"precision": float(result.precision), "recall": float(result.recall), "f1": float(result.f1)}


def _entities(
    gold: Sequence[Any],
    output: TaskOutput,
    labels: Sequence[str],
    thresholds: Sequence[float] | None,
    langs: Sequence[str] | None,
) -> dict[str, Any]:
    predicted: Spans = output  # type: ignore[assignment]
    return entities_report(gold, predicted, labels, langs)


KNN_K = (1, 5)
"""Neighbours that vote in :func:`knn_report`: ``knn_accuracy`` is the nearest one's label (the headline),
``knn5_accuracy`` the majority of the five nearest."""
_KNN_BLOCK = 1024


def knn_report(labels: Sequence[str], vectors: np.ndarray, langs: Sequence[str] | None = None) -> dict[str, Any]:
    """Leave-one-out nearest-neighbour label accuracy of vectors: each text takes the label of its nearest other
    text (cosine similarity), or the majority label of its ``k`` nearest (ties: the label of the nearest among
    them); the share of texts whose label that is.

    Args:
        labels: one gold label per vector.
        vectors: ``(n, dim)``, L2-normalised (cosine = dot product).
        langs: each text's language. With several languages a text's neighbours are the texts of its own
            language (translations of one text would otherwise be each other's nearest neighbours), and the
            overall figures are the per-language ones weighted by rows.

    Returns:
        ``{"rows", "labels", "knn_accuracy", "knn5_accuracy", "per_language": {lang: {...}}}``.

    Raises:
        TaskError: the labels do not match the vectors one to one.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(labels) != len(vectors):
        raise TaskError(
            f"Nearest-neighbour accuracy needs one label per text; got {len(labels)} labels for {len(vectors)} "
            "vectors. Evaluate on labelled data."
        )
    report: dict[str, Any] = {"rows": len(labels), "labels": len(set(labels))}
    if langs is None or len(set(langs)) < 2:
        return {**report, **_knn_scores(labels, vectors)}
    per_language: dict[str, dict[str, Any]] = {}
    for lang in sorted(set(langs)):
        rows = [i for i, x in enumerate(langs) if x == lang]
        per_language[lang] = {"rows": len(rows), **_knn_scores([labels[i] for i in rows], vectors[rows])}
    for key in _knn_keys():
        report[key] = sum(scores[key] * scores["rows"] for scores in per_language.values()) / len(labels)
    return {**report, "per_language": per_language}


def _knn_keys() -> list[str]:
    return [f"knn{k if k > 1 else ''}_accuracy" for k in KNN_K]


def _knn_scores(labels: Sequence[str], vectors: np.ndarray) -> dict[str, float]:
    n = len(labels)
    if n < 2:
        return dict.fromkeys(_knn_keys(), 0.0)
    names, gold = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    k_max = min(max(KNN_K), n - 1)
    nearest = np.zeros((n, k_max), dtype=np.int64)
    for start in range(0, n, _KNN_BLOCK):
        sims = vectors[start : start + _KNN_BLOCK] @ vectors.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf  # leave the text itself out
        top = np.argpartition(-sims, k_max - 1, axis=1)[:, :k_max]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
        nearest[start : start + len(sims)] = np.take_along_axis(top, order, axis=1)
    scores = {}
    for k, key in zip(KNN_K, _knn_keys(), strict=True):
        votes = gold[nearest[:, : min(k, k_max)]]
        predicted = np.array([_majority(row, len(names)) for row in votes])
        scores[key] = float((predicted == gold).mean())
    return scores


def _majority(votes: np.ndarray, n_labels: int) -> int:
    """The most voted label; among ties, the one voted for first (by the nearest neighbour)."""
    counts = np.bincount(votes, minlength=n_labels)
    best = counts.max()
    return int(next(v for v in votes if counts[v] == best))


def _embedding(
    gold: Sequence[Any],
    output: TaskOutput,
    labels: Sequence[str],
    thresholds: Sequence[float] | None,
    langs: Sequence[str] | None,
) -> dict[str, Any]:
    return knn_report(list(gold), np.asarray(output), langs)


TASK_REPORTS: dict[TaskName, ReportFn] = {
    "classification": _classification,
    "multilabel": _multilabel,
    "entities": _entities,
    "embedding": _embedding,
}
"""The metrics layer's per-task piece: how each task's predictions are scored against gold answers."""


def task_report(
    task: TaskName,
    gold: Sequence[Any],
    output: TaskOutput,
    labels: Sequence[str],
    *,
    thresholds: Sequence[float] | None = None,
    langs: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Score a model's output for ``task`` against the gold answers of the same texts.

    Args:
        task: the model's task.
        gold: one gold answer per text (``Dataset.answers``).
        output: the model's answer for the texts (:func:`nlpops.runtimes.predict_output`).
        labels: the model's labels.
        thresholds: per-label thresholds (multilabel).
        langs: each text's language, for per-language figures.

    Returns:
        The task's report; its headline metric is ``TASKS[task].metric``.

    Raises:
        TaskError: nlpops cannot score this task.
    """
    report = TASK_REPORTS.get(task)
    if report is None:
        raise TaskError(f"nlpops cannot evaluate {task} models yet.")
    return report(gold, output, labels, thresholds, langs)


__all__ = [
    "KNN_K",
    "TASK_REPORTS",
    "ReportFn",
    "classification_report",
    "entities_report",
    "indicator",
    "knn_report",
    "multilabel_report",
    "task_report",
]
