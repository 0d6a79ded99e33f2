"""The Predictor protocol: everything downstream of a bundle sees a model only through it.

Callers never probe a predictor with ``getattr``: what they may ask is declared here. A model set (the
``router`` runtime) and a single model answer the same protocol; for a single model the routing methods are
trivial (:meth:`Predictor.route` gives None, :meth:`Predictor.for_language` refuses).

Every predictor declares its :attr:`~Predictor.task` (:mod:`nlpops.tasks`, from the manifest) and answers the
task's own method: :meth:`~Predictor.predict_proba` (``classification``, ``multilabel`` with
:attr:`~Predictor.thresholds`), :meth:`~Predictor.predict_entities` (``entities``) or :meth:`~Predictor.embed`
(``embedding``); asked for another task's output it raises :class:`~nlpops.errors.TaskError`.
:func:`predict_output` calls the right one for any predictor: serving, batch, evaluation and profiling use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from nlpops.bundle import Bundle, BundleManifest
from nlpops.errors import ConfigError, TaskError
from nlpops.preprocess import build_preprocessor
from nlpops.tasks import Spans, TaskName, TaskOutput, label_decisions


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """How a model set routes each text of one call: a typed value, carried next to the texts.

    Args:
        langs: per text, the language whose model answers it (``und``: the fallback model answers). This is
            the ``lang`` a service reports per text.
        detected: per text, the language the detector found (None where the request stated the language, so
            nothing was detected); empty: None for every text.
        confidence: per text, the detector's probability for ``detected`` (None where nothing was detected);
            empty: None for every text.
    """

    langs: tuple[str, ...]
    detected: tuple[str | None, ...] = ()
    confidence: tuple[float | None, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.langs)
        if not self.detected:
            object.__setattr__(self, "detected", (None,) * n)
        if not self.confidence:
            object.__setattr__(self, "confidence", (None,) * n)
        if len(self.detected) != n or len(self.confidence) != n:
            raise ValueError(
                f"A routing decision needs one entry per text: {n} langs, {len(self.detected)} detected, "
                f"{len(self.confidence)} confidences."
            )

    def __len__(self) -> int:
        return len(self.langs)

    def part(self, start: int, stop: int) -> RoutingDecision:
        """The decision for texts ``start:stop`` (a batcher splits requests across batches)."""
        if start == 0 and stop == len(self.langs):
            return self
        return RoutingDecision(self.langs[start:stop], self.detected[start:stop], self.confidence[start:stop])

    @staticmethod
    def join(parts: Sequence[RoutingDecision]) -> RoutingDecision:
        """One decision for the concatenated texts of ``parts`` (a batcher joins requests into one batch)."""
        if len(parts) == 1:
            return parts[0]
        return RoutingDecision(
            tuple(lang for part in parts for lang in part.langs),
            tuple(lang for part in parts for lang in part.detected),
            tuple(p for part in parts for p in part.confidence),
        )


@runtime_checkable
class Predictor(Protocol):
    """A loaded model of one :attr:`task`.

    ``classification``: :meth:`predict_proba` returns an array of shape (n, len(labels)) whose rows sum to 1.
    ``multilabel``: the same shape, independent per-label probabilities (rows need not sum to 1) and
    :attr:`thresholds`. ``entities``: :meth:`predict_entities`. ``embedding``: :meth:`embed`.
    """

    @property
    def task(self) -> TaskName:
        """What the model does (the manifest's ``task``)."""
        ...

    @property
    def labels(self) -> list[str]:
        """The label of each probability column, in column order (entity types for ``entities``; empty for
        ``embedding``)."""
        ...

    @property
    def thresholds(self) -> list[float] | None:
        """Per-label thresholds in :attr:`labels` order (``multilabel``), else None."""
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
        """The most probable label and its probability, per text (``classification``, ``multilabel``)."""
        ...

    def predict_labels(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """The labels predicted for each text with their probabilities: the most probable one
        (``classification``), or every label that reaches its threshold, most probable first (``multilabel``)."""
        ...

    def predict_entities(self, texts: Sequence[str], routing: RoutingDecision | None = None) -> Spans:
        """The entity spans of each text (``entities``), character offsets into the text as given.

        Raises:
            TaskError: the model is not an entity model.
        """
        ...

    def embed(self, texts: Sequence[str], routing: RoutingDecision | None = None) -> np.ndarray:
        """One vector per text, shape ``(len(texts), dim)`` (``embedding``).

        Raises:
            TaskError: the model is not an embedding model.
        """
        ...

    def text_lengths(self, texts: Sequence[str]) -> list[int]:
        """Cost of each text for batching budgets: characters, or tokens where a runtime has a tokenizer."""
        ...

    def vocabulary(self) -> frozenset[str] | None:
        """The model's word vocabulary (for the live out-of-vocabulary statistic); None for models without one."""
        ...

    def route(self, texts: Sequence[str], hint: str | Sequence[str | None] | None = None) -> RoutingDecision | None:
        """How a model set routes ``texts``; None for a single model (nothing to route).

        Args:
            texts: the texts.
            hint: a language code for every text (a request's ``lang``), or one per text (None entries are
                detected); None detects each text's language.
        """
        ...

    def for_language(self, lang: str) -> Predictor:
        """The predictor that answers texts of ``lang`` only (``nlpops serve --lang``).

        Raises:
            ConfigError: a single model (no languages to choose from).
            RuntimeLoadError: a model set without a model for ``lang``.
        """
        ...


_PROBABILITY_TASKS = ("classification", "multilabel")


class BasePredictor:
    """Shared behaviour of the runtimes: preprocessing from the manifest, ``predict`` from ``predict_proba``.

    Subclasses implement ``_predict_proba(preprocessed_texts)``.
    """

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self._manifest = bundle.manifest
        self._labels = list(bundle.manifest.labels)
        self._preprocess = build_preprocessor(bundle.manifest.preprocessing)
        self._thresholds = (
            [float(bundle.manifest.thresholds[label]) for label in self._labels]
            if bundle.manifest.task == "multilabel"
            else None
        )

    @property
    def task(self) -> TaskName:
        """The manifest's task."""
        return self._manifest.task

    @property
    def labels(self) -> list[str]:
        """The label of each probability column (the manifest's labels)."""
        return self._labels

    @property
    def thresholds(self) -> list[float] | None:
        """The manifest's per-label thresholds in label order (multilabel), else None."""
        return self._thresholds

    @property
    def manifest(self) -> BundleManifest:
        """The manifest of the loaded bundle."""
        return self._manifest

    def predict_proba(self, texts: Sequence[str], routing: RoutingDecision | None = None) -> np.ndarray:
        """Probabilities over :attr:`labels` (``routing`` is ignored: a single model answers every text).

        Raises:
            TaskError: the model is neither a classification nor a multilabel model.
        """
        if self._manifest.task not in _PROBABILITY_TASKS:
            raise self._wrong_task("label probability", "classification or multilabel")
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

    def predict_labels(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """The most probable label (classification), or every label reaching its threshold (multilabel)."""
        proba = self.predict_proba(texts)
        return labels_of(proba, self._labels, self._thresholds)

    def predict_entities(self, texts: Sequence[str], routing: RoutingDecision | None = None) -> Spans:
        """Refused unless the runtime is an entity runtime (it overrides this).

        Raises:
            TaskError: naming the model's task.
        """
        raise self._wrong_task("entity", "entities")

    def embed(self, texts: Sequence[str], routing: RoutingDecision | None = None) -> np.ndarray:
        """One L2-normalised float32 vector per raw text (preprocessed here as the manifest says).

        Raises:
            TaskError: the model is not an embedding model (naming its task), or its runtime cannot embed.
        """
        if self._manifest.task != "embedding":
            raise self._wrong_task("embedding", "embedding")
        return self._embed(self._preprocess(texts))

    def _embed(self, texts: list[str]) -> np.ndarray:
        raise TaskError(
            f'Bundle "{self.bundle.path}" is an embedding model but its runtime "{self._manifest.runtime}" cannot '
            "embed. Rebuild it with nlpops train --task embedding."
        )

    def _wrong_task(self, wanted: str, task: str) -> TaskError:
        return TaskError(
            f'Model "{self._manifest.name}" is {"an" if self.task[0] in "aeiou" else "a"} {self.task} model; it makes '
            f"no {wanted} predictions. Use a bundle whose task is {task}."
        )

    def text_lengths(self, texts: Sequence[str]) -> list[int]:
        """Cost of each text for batching budgets: characters here, tokens where a runtime has a tokenizer."""
        return [len(t) for t in texts]

    def vocabulary(self) -> frozenset[str] | None:
        """The model's word vocabulary, for the live out-of-vocabulary statistic; None for models without one
        (subword tokenizers never see an unknown word)."""
        return None

    def route(self, texts: Sequence[str], hint: str | Sequence[str | None] | None = None) -> RoutingDecision | None:
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


def labels_of(
    proba: np.ndarray, labels: Sequence[str], thresholds: Sequence[float] | None
) -> list[list[tuple[str, float]]]:
    """The predicted labels of each row of ``proba``: the most probable one when ``thresholds`` is None,
    else every label reaching its threshold, most probable first."""
    proba = np.asarray(proba)
    if thresholds is None:
        best = proba.argmax(axis=1) if proba.shape[1] else np.zeros(len(proba), dtype=np.intp)
        return [[(labels[i], float(proba[row, i]))] for row, i in enumerate(best.tolist())]
    chosen = label_decisions(proba, thresholds)
    out = []
    for row, mask in enumerate(chosen):
        columns = sorted(np.flatnonzero(mask).tolist(), key=lambda i: -proba[row, i])
        out.append([(labels[i], float(proba[row, i])) for i in columns])
    return out


def _proba(predictor: Predictor, texts: Sequence[str], routing: RoutingDecision | None) -> TaskOutput:
    return predictor.predict_proba(texts, routing)


def _entities(predictor: Predictor, texts: Sequence[str], routing: RoutingDecision | None) -> TaskOutput:
    return predictor.predict_entities(texts, routing)


def _vectors(predictor: Predictor, texts: Sequence[str], routing: RoutingDecision | None) -> TaskOutput:
    return predictor.embed(texts, routing)


TASK_OUTPUTS: dict[TaskName, Callable[[Predictor, Sequence[str], RoutingDecision | None], TaskOutput]] = {
    "classification": _proba,
    "multilabel": _proba,
    "entities": _entities,
    "embedding": _vectors,
}
"""The runtimes' per-task piece: which Predictor method answers each task."""


def predict_output(predictor: Predictor, texts: Sequence[str], routing: RoutingDecision | None = None) -> TaskOutput:
    """The predictor's answer for ``texts`` in its task's form (:data:`nlpops.tasks.TaskOutput`).

    Args:
        predictor: any predictor.
        texts: the texts.
        routing: for a model set, how to route each text (None: routed here).
    """
    return TASK_OUTPUTS[predictor.task](predictor, texts, routing)


__all__ = ["TASK_OUTPUTS", "BasePredictor", "Predictor", "RoutingDecision", "labels_of", "predict_output"]
