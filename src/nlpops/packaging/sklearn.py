"""scikit-learn estimators and pipelines that take raw texts: a ``.skops`` file, or a pickle/joblib file.

skops files load with skops' trusted types only; any other type is listed and refused unless the user
trusts it by name (``--trust TYPE``). A pickle is loaded only with ``--unsafe-pickle`` (loading one runs
whatever code it holds), after one loud warning. Either way the bundle holds the pipeline in nlpops' declared
TF-IDF format when it fits (``pipeline.json`` + ``pipeline.npz``, see :mod:`nlpops.runtimes.sklearn`; a
``Pipeline([vectorizer, classifier])`` is stored as the same pipeline with a one-vectorizer ``FeatureUnion``),
else as skops: never as a pickle.

A multi-label model is a pipeline ending in a ``OneVsRestClassifier`` fitted on a label-indicator matrix (what
``MultiLabelBinarizer`` gives): its ``predict_proba`` holds independent per-label probabilities and its classes
are column numbers, so the label names come from ``--labels labels.txt`` (``MultiLabelBinarizer.classes_``, in
order).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.bundle import Bundle
from nlpops.data import Dataset
from nlpops.errors import PackageError
from nlpops.families.base import package_versions
from nlpops.metrics import indicator
from nlpops.packaging.probes import PROBE_TEXTS
from nlpops.packaging.source import SourceOptions, check_labels, read_labels_file
from nlpops.runtimes.sklearn import SklearnPredictor, linear_text_spec, load_pipeline, save_pipeline
from nlpops.tasks import TaskName


def declarable(estimator: Any) -> Any:
    """``estimator``, or the equivalent pipeline nlpops' declared format holds (vectorizer wrapped in a union)."""
    from sklearn.pipeline import FeatureUnion, Pipeline

    if linear_text_spec(estimator) is not None:
        return estimator
    if type(estimator) is Pipeline and len(estimator.steps) == 2 and hasattr(estimator.steps[0][1], "build_analyzer"):
        vectorizer, classifier = estimator.steps
        wrapped = Pipeline([("features", FeatureUnion([vectorizer])), classifier])
        if linear_text_spec(wrapped) is not None:
            return wrapped
    return estimator


def untrusted_types(estimator: Any) -> list[str]:
    """The types skops would not trust in ``estimator``'s skops form."""
    import skops.io as sio

    return sorted(sio.get_untrusted_types(data=sio.dumps(estimator)))


def _refuse_untrusted(origin: str, untrusted: Sequence[str], trust: Sequence[str]) -> None:
    refused = [t for t in untrusted if t not in trust]
    if refused:
        raise PackageError(
            f'"{origin}" contains types skops does not trust: {", ".join(refused)}. Check that you trust them, then '
            f"pass each with --trust (e.g. --trust {refused[0]})."
        )


def is_multilabel(estimator: Any) -> bool:
    """Whether ``estimator`` (or a pipeline's last step) is a ``OneVsRestClassifier`` fitted on a label-indicator
    matrix: independent per-label probabilities."""
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import Pipeline

    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    return isinstance(final, OneVsRestClassifier) and bool(final.multilabel_)


def _multilabel_labels(origin: str, classes: Sequence[Any], names: Sequence[str] | None) -> list[str]:
    if names is None:
        raise PackageError(
            f'"{origin}" is a multi-label classifier whose {len(classes)} outputs have no names: pass --labels '
            "labels.txt, one label per line in output order (MultiLabelBinarizer.classes_)."
        )
    if len(names) != len(classes):
        raise PackageError(
            f'"{origin}" has {len(classes)} outputs but the labels file names {len(names)} labels. Give one label per '
            "output, in output order."
        )
    return list(names)


def _names(options: SourceOptions) -> list[str] | None:
    return read_labels_file(options.labels_file) if options.labels_file is not None else None


class SklearnSource:
    """A fitted scikit-learn estimator over raw texts; answers with its own ``predict_proba``."""

    family = "tfidf"
    runtime = "sklearn"

    def __init__(
        self, estimator: Any, origin: str, kind: str, trust: Sequence[str] = (), names: Sequence[str] | None = None
    ) -> None:
        """``names`` name the outputs of a multi-label model (``--labels``); a single-label model has its own."""
        self.estimator, self.origin, self.kind = estimator, origin, kind
        self.languages: list[str] = []
        if not hasattr(estimator, "classes_"):
            raise PackageError(f'"{origin}" holds a {type(estimator).__name__}, not a fitted classifier (no classes_).')
        if not (hasattr(estimator, "predict_proba") or hasattr(estimator, "decision_function")):
            raise PackageError(
                f'"{origin}": the {type(estimator).__name__} has neither predict_proba nor decision_function, so it '
                "gives no class scores. Package a classifier."
            )
        self.task: TaskName = "multilabel" if is_multilabel(estimator) else "classification"
        if self.task == "multilabel":
            if not hasattr(estimator, "predict_proba"):
                raise PackageError(
                    f'"{origin}": the multi-label {type(estimator).__name__} has no predict_proba, so it gives no '
                    "per-label probabilities. Use an estimator with predict_proba (LogisticRegression) inside it."
                )
            self.labels = _multilabel_labels(origin, list(estimator.classes_), names)
        elif names is not None:
            raise PackageError(
                f'--labels does not apply to "{origin}": its classes are named (classes_). Leave it out.'
            )
        else:
            self.labels = check_labels(origin, [str(c) for c in estimator.classes_], "classes_")
        try:
            probe = self.predict_proba(list(PROBE_TEXTS[:2]))
        except Exception as exc:  # any estimator error: it does not take raw texts
            raise PackageError(
                f'"{origin}": the {type(estimator).__name__} does not accept raw texts ({type(exc).__name__}: {exc}). '
                "Package a Pipeline that starts with a text vectorizer."
            ) from exc
        if probe.shape != (2, len(self.labels)):
            raise PackageError(
                f'"{origin}": the {type(estimator).__name__} answers {probe.shape[1:]} scores per text for '
                f"{len(self.labels)} classes. nlpops packages single-label classifiers and multi-label "
                "OneVsRestClassifier pipelines."
            )
        self.stored = declarable(estimator)
        self.declared = linear_text_spec(self.stored) is not None
        self.trusted: list[str] = [] if self.declared else untrusted_types(self.stored)
        _refuse_untrusted(origin, self.trusted, trust)
        self.requirements = package_versions("scikit-learn", "numpy", "scipy", *([] if self.declared else ["skops"]))
        self.runtime_options: dict[str, Any] = {"trusted_types": self.trusted} if self.trusted else {}

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if hasattr(self.estimator, "predict_proba"):
            return np.asarray(self.estimator.predict_proba(list(texts)), dtype=np.float64)
        return SklearnPredictor.softmax_scores(self.estimator.decision_function(list(texts)))

    def save(self, directory: Path) -> None:
        save_pipeline(self.stored, directory)

    def describe(self) -> dict[str, Any]:
        return {
            "estimator": type(self.estimator).__name__,
            "multilabel": self.task == "multilabel",
            "stored_as": "declared (pipeline.json + pipeline.npz)" if self.declared else "skops",
            "trusted_types": self.trusted,
        }


def open_skops(source: str, options: SourceOptions) -> SklearnSource:
    """Open a ``.skops`` file with skops' trusted types plus those named in ``options.trust``.

    Raises:
        PackageError: unreadable file, untrusted types not named with --trust, or not a text classifier.
    """
    import skops.io as sio

    path = Path(source).expanduser()
    try:
        untrusted = sorted(sio.get_untrusted_types(file=path))
    except Exception as exc:  # skops raises many types on a corrupt file
        raise PackageError(f'"{path}" is not a readable skops file ({exc}). Save it again with skops.io.dump.') from exc
    _refuse_untrusted(str(path), untrusted, options.trust)
    try:
        estimator = sio.load(path, trusted=untrusted or None)
    except Exception as exc:
        raise PackageError(f'skops could not load "{path}": {exc}') from exc
    return SklearnSource(estimator, source, "skops", options.trust, _names(options))


def open_pickle(source: str, options: SourceOptions) -> SklearnSource:
    """Open a pickle/joblib file, only with ``options.unsafe_pickle`` and after a loud warning.

    Raises:
        PackageError: no ``--unsafe-pickle``, unreadable file, or not a text classifier.
    """
    path = Path(source).expanduser()
    if not options.unsafe_pickle:
        raise PackageError(
            f'"{path}" is a pickle file: loading it runs whatever code it contains, so nlpops refuses it. Save the '
            "model with skops.io.dump and package the .skops file, or pass --unsafe-pickle if you trust its origin."
        )
    options.warn(
        f'--unsafe-pickle: loading "{path}" runs any code it contains, with your permissions; do this only for a '
        "file you or your team wrote. The bundle holds a converted copy, never the pickle."
    )
    import joblib

    try:
        estimator = joblib.load(path)
    except Exception as exc:  # unpickling raises anything
        raise PackageError(f'"{path}" could not be unpickled: {type(exc).__name__}: {exc}') from exc
    return SklearnSource(estimator, source, "pickle", options.trust, _names(options))


def refit_pipeline(bundle: Bundle, data: Dataset) -> SklearnSource:
    """A fresh copy of the packaged pipeline (same parameters, ``sklearn.base.clone``) fitted on ``data``.

    A multi-label pipeline is fitted on the indicator matrix of ``data``'s label sets over the bundle's labels.

    Raises:
        PackageError: ``data`` is labelled for another task.
    """
    from sklearn.base import clone
    from threadpoolctl import threadpool_limits

    task = bundle.manifest.task
    if data.task != task:
        raise PackageError(
            f'"{data.source}" is {data.task} data; the packaged pipeline "{bundle.manifest.name}" is a {task} '
            f"model. Retrain it on {task} data (the formats: docs/tasks.md)."
        )
    trusted = [str(t) for t in bundle.manifest.runtime_options.get("trusted_types", [])]
    pipeline = clone(load_pipeline(bundle.path, trusted))
    targets: Any = list(data.labels)
    names = list(bundle.manifest.labels) if task == "multilabel" else None
    if task == "multilabel":
        targets = indicator([tuple(labels) for labels in data.label_sets or []], bundle.manifest.labels).astype(int)
    with threadpool_limits(limits=1, user_api="blas"):
        pipeline.fit(list(data.texts), targets)
    kind = str((bundle.manifest.package or {}).get("source", {}).get("kind", "skops"))
    return SklearnSource(pipeline, f"{bundle.manifest.name} refit on {data.source}", kind, trusted, names)


__all__ = [
    "SklearnSource",
    "declarable",
    "is_multilabel",
    "open_pickle",
    "open_skops",
    "refit_pipeline",
    "untrusted_types",
]
