"""What every source adapter gives the packaging core: a :class:`Source`, and the checks they share.

One adapter per kind of model a team brings (``huggingface``, ``spacy``, ``sklearn``, ``onnx``). Each opens
the model with its own library, says which runtime serves it and with which options, writes the bundle's
files, and answers ``predict_proba`` the way the source library does: that answer is what the packaged
bundle must reproduce.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from nlpops.errors import PackageError
from nlpops.tasks import Spans, TaskName

SOURCE_THRESHOLD = 0.5
"""The threshold a packaged multi-label model gets for every label: the source libraries' own decision rule
(transformers' multi-label models and spaCy's ``textcat_multilabel`` score a label when its sigmoid reaches
0.5, scikit-learn's ``OneVsRestClassifier.predict`` likewise), so the bundle predicts the labels the source
predicts."""


class Source(Protocol):
    """A model opened from where a team keeps it, ready to become a bundle.

    ``task`` is ``classification`` (one label per text, rows sum to 1), ``multilabel`` (independent per-label
    probabilities; every label gets :data:`SOURCE_THRESHOLD`) or ``entities`` (character spans). A classifier
    source is a :class:`ClassifierSource`, an entity source an :class:`EntitySource`: what the source library
    answers, and what the packaged bundle must reproduce.
    """

    kind: str
    origin: str
    family: str
    runtime: str
    task: TaskName
    labels: list[str]
    languages: list[str]
    requirements: list[str]
    runtime_options: dict[str, Any]

    def save(self, directory: Path) -> None: ...

    def describe(self) -> dict[str, Any]: ...


@runtime_checkable
class ClassifierSource(Source, Protocol):
    """A classifier source: ``predict_proba`` answers like the source library itself (transformers' softmax, or
    sigmoid for a multi-label model, over the logits; spaCy's ``doc.cats``; scikit-learn's ``predict_proba``;
    onnxruntime's outputs), on raw texts."""

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class EntitySource(Source, Protocol):
    """An entity source: ``predict_entities`` answers like the source library itself (spaCy's ``doc.ents``,
    transformers' token-classification pipeline with ``aggregation_strategy="simple"``), on raw texts. The labels
    are the entity types."""

    def predict_entities(self, texts: Sequence[str]) -> Spans: ...


def warn_loudly(message: str) -> None:
    """The default ``warn`` of :class:`SourceOptions`: a Python warning (the CLI prints its own)."""
    warnings.warn(message, UserWarning, stacklevel=3)


@dataclass(frozen=True)
class SourceOptions:
    """What the user told ``nlpops package`` about the source.

    Args:
        component: the spaCy component to package: a text classifier (when the pipeline has several, or to choose
            it over the entity components) or an entity component (``ner``: package the pipeline's entities).
        labels_file: ``labels.txt`` for an ONNX graph or a multi-label scikit-learn model, whose outputs have no
            names (one label per line, in output order).
        trust: skops types to trust beyond skops' own (``--trust``).
        unsafe_pickle: allow loading a pickle/joblib file (``--unsafe-pickle``).
        warn: receives warnings meant for the user (loading a pickle).
    """

    component: str | None = None
    labels_file: Path | None = None
    trust: tuple[str, ...] = ()
    unsafe_pickle: bool = False
    warn: Callable[[str], None] = field(default=warn_loudly, compare=False)


def check_labels(origin: str, labels: Sequence[str], where: str) -> list[str]:
    """Labels as strings, at least two, non-empty and distinct.

    Raises:
        PackageError: naming ``where`` the labels came from.
    """
    names = [str(label) for label in labels]
    if len(names) < 2:
        raise PackageError(f'"{origin}": {where} names {len(names)} label(s); a classifier needs at least 2.')
    if any(not name.strip() for name in names):
        raise PackageError(f'"{origin}": {where} has an empty label name. Name every class.')
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise PackageError(f'"{origin}": {where} names the label "{repeated[0]}" more than once. Make labels distinct.')
    return names


def read_labels_file(path: Path) -> list[str]:
    """The labels of ``labels.txt``: one per line, in the order of the model's outputs (blank lines skipped).

    Raises:
        PackageError: the file cannot be read or holds fewer than two distinct labels.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PackageError(
            f'Cannot read --labels "{path}": {exc}. Give a UTF-8 text file, one label per line.'
        ) from exc
    return check_labels(str(path), [line.strip() for line in lines if line.strip()], "the labels file")


__all__ = [
    "SOURCE_THRESHOLD",
    "ClassifierSource",
    "EntitySource",
    "Source",
    "SourceOptions",
    "check_labels",
    "read_labels_file",
    "warn_loudly",
]
