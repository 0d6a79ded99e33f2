"""What a model family produces: a trained model that can predict in memory and write its runtime files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from nlpops.errors import TaskError
from nlpops.tasks import TaskName, TaskOutput


class TrainedModel(Protocol):
    """A freshly trained model, before it becomes a bundle.

    Its task's prediction method takes texts that were already preprocessed with the bundle's steps:
    ``predict_proba`` (classification, multilabel: :class:`ProbabilityModel`), ``predict_entities``
    (entities), ``embed`` (embedding); :data:`TRAINED_OUTPUTS` says which. ``thresholds`` holds the per-label
    thresholds of a multilabel model (label order), None for the other tasks.
    """

    family: str
    runtime: str
    task: TaskName
    labels: list[str]
    thresholds: list[float] | None
    requirements: list[str]
    runtime_options: dict[str, Any]

    def save(self, directory: Path) -> None: ...


class ProbabilityModel(TrainedModel, Protocol):
    """A trained classification or multilabel model: probabilities over its labels."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


def _proba(model: ProbabilityModel, texts: Sequence[str]) -> TaskOutput:
    return model.predict_proba(texts)


def _entities(model: Any, texts: Sequence[str]) -> TaskOutput:
    spans: TaskOutput = model.predict_entities(texts)
    return spans


def _vectors(model: Any, texts: Sequence[str]) -> TaskOutput:
    vectors: np.ndarray = model.embed(texts)
    return vectors


TRAINED_OUTPUTS: dict[TaskName, Callable[[Any, Sequence[str]], TaskOutput]] = {
    "classification": _proba,
    "multilabel": _proba,
    "entities": _entities,
    "embedding": _vectors,
}
"""The families' per-task piece for freshly trained models: how each task's model answers (evaluation,
reference statistics)."""


def trained_output(model: TrainedModel, texts: Sequence[str]) -> TaskOutput:
    """A trained model's answer for preprocessed ``texts``, in its task's form.

    Raises:
        TaskError: no family can answer this task in memory yet.
    """
    answer = TRAINED_OUTPUTS.get(model.task)
    if answer is None:
        raise TaskError(f"nlpops cannot use freshly trained {model.task} models yet.")
    return answer(model, texts)


def package_versions(*names: str) -> list[str]:
    """``["name==version", ...]`` for installed distributions (skipping ones that are not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return pins


__all__ = ["TRAINED_OUTPUTS", "ProbabilityModel", "TrainedModel", "package_versions", "trained_output"]
