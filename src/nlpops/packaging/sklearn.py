"""scikit-learn estimators and pipelines that take raw texts: a ``.skops`` file, or a pickle/joblib file.

skops files load with skops' trusted types only; any other type is listed and refused unless the user
trusts it by name (``--trust TYPE``). A pickle is loaded only with ``--unsafe-pickle`` (loading one runs
whatever code it holds), after one loud warning. Either way the bundle holds the pipeline in nlpops' declared
TF-IDF format when it fits (``pipeline.json`` + ``pipeline.npz``, see :mod:`nlpops.runtimes.sklearn`; a
``Pipeline([vectorizer, classifier])`` is stored as the same pipeline with a one-vectorizer ``FeatureUnion``),
else as skops: never as a pickle.
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
from nlpops.packaging.probes import PROBE_TEXTS
from nlpops.packaging.source import SourceOptions, check_labels
from nlpops.runtimes.sklearn import SklearnPredictor, linear_text_spec, load_pipeline, save_pipeline


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


class SklearnSource:
    """A fitted scikit-learn estimator over raw texts; answers with its own ``predict_proba``."""

    family = "tfidf"
    runtime = "sklearn"

    def __init__(self, estimator: Any, origin: str, kind: str, trust: Sequence[str] = ()) -> None:
        self.estimator, self.origin, self.kind = estimator, origin, kind
        self.languages: list[str] = []
        if not hasattr(estimator, "classes_"):
            raise PackageError(f'"{origin}" holds a {type(estimator).__name__}, not a fitted classifier (no classes_).')
        if not (hasattr(estimator, "predict_proba") or hasattr(estimator, "decision_function")):
            raise PackageError(
                f'"{origin}": the {type(estimator).__name__} has neither predict_proba nor decision_function, so it '
                "gives no class scores. Package a classifier."
            )
        self.labels = check_labels(origin, [str(c) for c in estimator.classes_], "classes_")
        try:
            self.predict_proba(list(PROBE_TEXTS[:2]))
        except Exception as exc:  # any estimator error: it does not take raw texts
            raise PackageError(
                f'"{origin}": the {type(estimator).__name__} does not accept raw texts ({type(exc).__name__}: {exc}). '
                "Package a Pipeline that starts with a text vectorizer."
            ) from exc
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
    return SklearnSource(estimator, source, "skops", options.trust)


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
    return SklearnSource(estimator, source, "pickle", options.trust)


def refit_pipeline(bundle: Bundle, data: Dataset) -> SklearnSource:
    """A fresh copy of the packaged pipeline (same parameters, ``sklearn.base.clone``) fitted on ``data``."""
    from sklearn.base import clone
    from threadpoolctl import threadpool_limits

    trusted = [str(t) for t in bundle.manifest.runtime_options.get("trusted_types", [])]
    pipeline = clone(load_pipeline(bundle.path, trusted))
    with threadpool_limits(limits=1, user_api="blas"):
        pipeline.fit(list(data.texts), list(data.labels))
    kind = str((bundle.manifest.package or {}).get("source", {}).get("kind", "skops"))
    return SklearnSource(pipeline, f"{bundle.manifest.name} refit on {data.source}", kind, trusted)


__all__ = ["SklearnSource", "declarable", "open_pickle", "open_skops", "refit_pipeline", "untrusted_types"]
