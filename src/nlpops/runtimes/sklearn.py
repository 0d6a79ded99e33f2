"""Native scikit-learn runtime: a pipeline saved with skops (no pickle), loaded with trusted types only."""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpops.bundle import Bundle
from nlpops.errors import MissingExtraError, RuntimeLoadError
from nlpops.runtimes.base import BasePredictor

MODEL_FILE = "model.skops"


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
        self.pipeline = load_skops(bundle.file(MODEL_FILE))
        classes = [str(c) for c in getattr(self.pipeline, "classes_", [])]
        if classes != self.labels:
            raise RuntimeLoadError(
                f'Bundle "{bundle.path}": the model\'s classes {classes[:5]}... do not match the manifest labels.'
            )
        self._has_proba = hasattr(self.pipeline, "predict_proba")

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        if self._has_proba:
            return np.asarray(self.pipeline.predict_proba(texts), dtype=np.float64)
        scores = np.asarray(self.pipeline.decision_function(texts), dtype=np.float64)
        if scores.ndim == 1:  # binary: one margin -> two columns
            scores = np.stack([-scores, scores], axis=1)
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))


__all__ = ["MODEL_FILE", "SklearnPredictor", "load_skops"]
