"""The Predictor protocol: everything downstream of a bundle sees a model only through it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from nlpops.bundle import Bundle, BundleManifest
from nlpops.preprocess import build_preprocessor


@runtime_checkable
class Predictor(Protocol):
    """A loaded model. ``predict_proba`` returns an array of shape (n, len(labels)); rows sum to 1."""

    @property
    def labels(self) -> list[str]: ...

    @property
    def manifest(self) -> BundleManifest: ...

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]: ...

    def text_lengths(self, texts: Sequence[str]) -> list[int]: ...


class BasePredictor:
    """Shared behaviour of the runtimes: preprocessing from the manifest, ``predict`` from ``predict_proba``.

    Subclasses implement ``_predict_proba(preprocessed_texts)``.
    """

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self._manifest = bundle.manifest
        self._labels = list(bundle.manifest.labels)
        self._preprocess = build_preprocessor(bundle.manifest.preprocessing)

    @property
    def labels(self) -> list[str]:
        return self._labels

    @property
    def manifest(self) -> BundleManifest:
        return self._manifest

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, len(self._labels)), dtype=np.float64)
        return self._predict_proba(self._preprocess(texts))

    def _predict_proba(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        proba = self.predict_proba(texts)
        best = proba.argmax(axis=1)
        return [(self._labels[i], float(proba[row, i])) for row, i in enumerate(best)]

    def text_lengths(self, texts: Sequence[str]) -> list[int]:
        """Cost of each text for batching budgets: characters here, tokens where a runtime has a tokenizer."""
        return [len(t) for t in texts]

    def vocabulary(self) -> frozenset[str] | None:
        """The model's word vocabulary, for the live out-of-vocabulary statistic; None for models without one
        (subword tokenizers never see an unknown word)."""
        return None


__all__ = ["BasePredictor", "Predictor"]
