"""Native scikit-learn runtime: a pipeline saved with skops (no pickle), loaded with trusted types only."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.bundle import Bundle
from nlpops.errors import MissingExtraError, RuntimeLoadError
from nlpops.runtimes.base import BasePredictor

MODEL_FILE = "model.skops"
VOCABULARY_FILE = "vocabulary.json"


def text_vectorizers(estimator: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, text vectorizer) inside a pipeline or feature union, fitted or not.

    The path names the steps from the root (``"features.char"``); it keys the saved vocabularies.
    """
    if hasattr(estimator, "build_analyzer"):
        yield prefix or "root", estimator
    for attr in ("steps", "transformer_list"):
        for name, child in getattr(estimator, attr, []):
            yield from text_vectorizers(child, f"{prefix}.{name}" if prefix else name)


def save_pipeline(pipeline: Any, directory: Path) -> None:
    """Save a fitted pipeline with skops, vocabularies apart as compact JSON lists.

    skops writes a dict node per vocabulary entry (tens of MB for a char n-gram vocabulary); a list
    ordered by feature index is a few MB and loads in a fraction of the time.
    """
    import skops.io as sio

    vocabularies: dict[str, list[str]] = {}
    held: list[tuple[Any, dict[str, int]]] = []
    try:
        for path, vectorizer in text_vectorizers(pipeline):
            if not hasattr(vectorizer, "vocabulary_"):
                continue
            vocabulary = vectorizer.vocabulary_
            terms = [""] * len(vocabulary)
            for term, index in vocabulary.items():
                terms[index] = term
            vocabularies[path] = terms
            held.append((vectorizer, vocabulary))
            del vectorizer.vocabulary_
        sio.dump(pipeline, directory / MODEL_FILE, compression=zipfile.ZIP_DEFLATED)
    finally:
        for vectorizer, vocabulary in held:
            vectorizer.vocabulary_ = vocabulary
    if vocabularies:
        (directory / VOCABULARY_FILE).write_text(json.dumps(vocabularies, ensure_ascii=False), encoding="utf-8")


def load_pipeline(directory: Path) -> Any:
    """Load a pipeline written by :func:`save_pipeline` (trusted types only, no pickle)."""
    pipeline = load_skops(directory / MODEL_FILE)
    vocab_path = directory / VOCABULARY_FILE
    if vocab_path.is_file():
        vocabularies = json.loads(vocab_path.read_text(encoding="utf-8"))
        targets = dict(text_vectorizers(pipeline))
        for path, terms in vocabularies.items():
            if path not in targets:
                raise RuntimeLoadError(f'"{vocab_path}" names "{path}", which the model does not have.')
            targets[path].vocabulary_ = {term: i for i, term in enumerate(terms)}
    return pipeline


def load_skops(path: Any) -> Any:
    """Load a skops file, refusing any type skops does not already trust."""
    try:
        import skops.io as sio
    except ImportError as exc:  # pragma: no cover - skops is a base dependency
        raise MissingExtraError.for_extra("The scikit-learn runtime", "sklearn", "skops") from exc
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises many types on a corrupt file
        raise RuntimeLoadError(f'"{path}" is not a readable skops file: {exc}') from exc
    if untrusted:
        raise RuntimeLoadError(
            f'"{path}" contains types nlpops does not trust: {", ".join(untrusted)}. '
            "Refusing to load it; retrain with nlpops."
        )
    try:
        return sio.load(path)
    except Exception as exc:
        raise RuntimeLoadError(f'"{path}" could not be loaded by skops: {exc}') from exc


class SklearnPredictor(BasePredictor):
    """A scikit-learn pipeline whose final step has ``predict_proba`` (or ``decision_function``)."""

    def __init__(self, bundle: Bundle) -> None:
        super().__init__(bundle)
        bundle.file(MODEL_FILE)  # listed in the manifest, else BundleError
        self.pipeline = load_pipeline(bundle.path)
        classes = [str(c) for c in getattr(self.pipeline, "classes_", [])]
        if classes != self.labels:
            raise RuntimeLoadError(
                f'Bundle "{bundle.path}": the model\'s classes {classes[:5]}... do not match the manifest labels.'
            )
        self._has_proba = hasattr(self.pipeline, "predict_proba")

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        if self._has_proba:
            return np.asarray(self.pipeline.predict_proba(texts), dtype=np.float64)
        return self.softmax_scores(self.pipeline.decision_function(texts))

    @staticmethod
    def softmax_scores(decision: Any) -> np.ndarray:
        """Turn linear-model margins into probabilities (softmax; binary margins become two columns)."""
        scores = np.asarray(decision, dtype=np.float64)
        if scores.ndim == 1:
            scores = np.stack([-scores, scores], axis=1)
        scores = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))


__all__ = [
    "MODEL_FILE",
    "VOCABULARY_FILE",
    "SklearnPredictor",
    "load_pipeline",
    "load_skops",
    "save_pipeline",
    "text_vectorizers",
]
