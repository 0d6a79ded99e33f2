"""The Predictor protocol: everything downstream of a bundle sees a model only through it.

Callers never probe a predictor with ``getattr``: what they may ask is declared here. A model set (the
``router`` runtime) and a single model answer the same protocol; for a single model the routing methods are
trivial (:meth:`Predictor.route` gives None, :meth:`Predictor.for_language` refuses).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from nlpops.bundle import Bundle, BundleManifest
from nlpops.errors import ConfigError
from nlpops.preprocess import build_preprocessor


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """How a model set routes each text of one call: a typed value, carried next to the texts.

    Args:
        langs: per text, the language it is routed as (``und`` when unknown: the fallback model answers).
            This is also the language a service reports per text.
    """

    langs: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.langs)

    def part(self, start: int, stop: int) -> RoutingDecision:
        """The decision for texts ``start:stop`` (a batcher splits requests across batches)."""
        if start == 0 and stop == len(self.langs):
            return self
        return RoutingDecision(self.langs[start:stop])

    @staticmethod
    def join(parts: Sequence[RoutingDecision]) -> RoutingDecision:
        """One decision for the concatenated texts of ``parts`` (a batcher joins requests into one batch)."""
        if len(parts) == 1:
            return parts[0]
        return RoutingDecision(tuple(lang for part in parts for lang in part.langs))


@runtime_checkable
class Predictor(Protocol):
    """A loaded model. ``predict_proba`` returns an array of shape (n, len(labels)); rows sum to 1."""

    @property
    def labels(self) -> list[str]:
        """The label of each probability column, in column order."""
        ...

    @property
    def manifest(self) -> BundleManifest:
        """The manifest of the bundle this predictor was loaded from."""
        ...

    def predict_proba(self, texts: Sequence[str], routing: RoutingDecision | None = None) -> np.ndarray:
        """Probabilities over :attr:`labels` for raw texts (preprocessed here as the manifest says).

        Args:
            texts: the texts, as users sent them.
            routing: for a model set, how to route each text (from :meth:`route`; routed here when None).
                Single models ignore it.

        Returns:
            An array of shape ``(len(texts), len(labels))`` whose rows sum to 1.
        """
        ...

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The most probable label and its probability, per text."""
        ...

    def text_lengths(self, texts: Sequence[str]) -> list[int]:
        """Cost of each text for batching budgets: characters, or tokens where a runtime has a tokenizer."""
        ...

    def vocabulary(self) -> frozenset[str] | None:
        """The model's word vocabulary (for the live out-of-vocabulary statistic); None for models without one."""
        ...

    def route(self, texts: Sequence[str], hint: str | None = None) -> RoutingDecision | None:
        """How a model set routes ``texts``; None for a single model (nothing to route).

        Args:
            texts: the texts.
            hint: a language code for every text (a request's ``lang``); None detects each text's language.
        """
        ...

    def for_language(self, lang: str) -> Predictor:
        """The predictor that answers texts of ``lang`` only (``nlpops serve --lang``).

        Raises:
            ConfigError: a single model (no languages to choose from).
            RuntimeLoadError: a model set without a model for ``lang``.
        """
        ...


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
        """The label of each probability column (the manifest's labels)."""
        return self._labels

    @property
    def manifest(self) -> BundleManifest:
        """The manifest of the loaded bundle."""
        return self._manifest

    def predict_proba(self, texts: Sequence[str], routing: RoutingDecision | None = None) -> np.ndarray:
        """Probabilities over :attr:`labels` (``routing`` is ignored: a single model answers every text)."""
        if len(texts) == 0:
            return np.zeros((0, len(self._labels)), dtype=np.float64)
        return self._predict_proba(self._preprocess(texts))

    def _predict_proba(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The most probable label and its probability, per text."""
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

    def route(self, texts: Sequence[str], hint: str | None = None) -> RoutingDecision | None:
        """None: a single model has nothing to route."""
        return None

    def for_language(self, lang: str) -> Predictor:
        """Refused: a single model cannot serve one language of several.

        Raises:
            ConfigError: always (naming the bundle and what to do instead).
        """
        raise ConfigError(
            f'--lang {lang}: "{self.bundle.path}" is a single model, not a model set. Serve it without --lang, '
            "or train one model per language: nlpops train --strategy per-language"
        )


__all__ = ["BasePredictor", "Predictor", "RoutingDecision"]
