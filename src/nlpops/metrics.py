"""Classification metrics: accuracy, macro-F1, per-class scores, confusion matrix, per language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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


__all__ = ["classification_report"]
