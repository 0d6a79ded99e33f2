"""Tasks: what a model does with a text, declared once.

A bundle has one task (``manifest.task``), and so does the Predictor loaded from it (``Predictor.task``):

- ``classification``: one label per text; probabilities over the labels that sum to 1.
- ``multilabel``: any number of labels per text; independent per-label probabilities and a threshold per
  label (a label is predicted when its probability reaches its threshold).
- ``entities``: labelled character spans of the text (:class:`Span`).
- ``embedding``: one vector per text.

:data:`TASKS` is the one table of what each task is: what a prediction holds, the serving endpoint that answers
it, the data field holding its gold answers, the headline metric (retrain gates use it), the drift statistics
and the batch output columns. Every layer above keeps its own per-task piece in one place, keyed by the task
name (the families' trainers, the metrics' reports, the serving endpoints, the batch writers, the drift checks);
a task is added by adding its :class:`TaskSpec` here and one entry per layer.

This module sits at the bottom of the layers: it imports nothing else of nlpops but errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, get_args

import numpy as np

from nlpops.errors import TaskError

TaskName = Literal["classification", "multilabel", "entities", "embedding"]
"""The name of a task, as a manifest, a config and the CLI spell it."""

TASK_NAMES: tuple[TaskName, ...] = get_args(TaskName)


@dataclass(frozen=True, slots=True)
class Span:
    """A labelled span of characters ``text[start:end]`` (end exclusive: the spaCy, doccano and Label Studio
    convention), with the model's confidence in it (1.0 for gold spans and models without scores)."""

    start: int
    end: int
    label: str
    score: float = 1.0

    def text_of(self, text: str) -> str:
        """The characters of ``text`` this span covers."""
        return text[self.start : self.end]


Spans: TypeAlias = list[list[Span]]
"""The ``entities`` prediction: the spans of each text, in text order."""

TaskOutput: TypeAlias = np.ndarray | Spans
"""What a model answers for ``n`` texts: probabilities ``(n, n_labels)`` (classification, multilabel),
spans per text (entities) or vectors ``(n, dim)`` (embedding). Either way ``len(output) == n`` and
``output[a:b]`` is the answer for texts ``a:b``."""


@dataclass(frozen=True)
class DriftStatistic:
    """One statistic a task's drift checks compare, live against the bundle's reference.

    Attributes:
        name: the statistic as reports and the ``statistic`` label of the Prometheus gauges name it.
        kind: how it is compared: ``hist`` (ordered bins: Kolmogorov-Smirnov test and PSI), ``categories``
            (counts per category: chi-squared test and PSI), ``rates`` (one check per label: how often it is
            predicted per text, a 2x2 chi-squared test and PSI; statistic ``name:label``), ``vocabulary``
            (word tokens in and out of the model's vocabulary), ``mean`` (vectors: the distance of the live mean
            from the reference mean, Hotelling's two-sample test on a fixed random projection).
        key: where the counts are in the reference and live statistics (``length_hist``, ``label_counts``...).
    """

    name: str
    kind: str
    key: str


@dataclass(frozen=True)
class TaskSpec:
    """What one task is, for every layer.

    Attributes:
        name: the task.
        prediction: what a prediction holds, in words (documentation, OpenAPI).
        endpoint: the ``POST`` route that answers it (a request to another task's route is refused with 409).
        default_family: the family ``nlpops train`` uses when none is chosen.
        data_fields: the JSON lines fields that hold the gold answer, in the order they are looked for.
        metric: the headline key of the task's evaluation report; retrain gates compare it.
        drift_statistics: what drift detection compares.
        batch_columns: the columns ``nlpops batch`` writes after the id (``score_<label>`` columns may follow).
        preprocessing: whether the default text preprocessing applies (entities: no, character offsets refer
            to the text as given).
        evaluated_on: the other tasks whose data files evaluate it too (embedding: texts with one label each,
            classification data, label its nearest-neighbour accuracy).
    """

    name: TaskName
    prediction: str
    endpoint: str
    default_family: str
    data_fields: tuple[str, ...]
    metric: str
    drift_statistics: tuple[DriftStatistic, ...]
    batch_columns: tuple[str, ...]
    preprocessing: bool = True
    evaluated_on: tuple[TaskName, ...] = ()


LENGTH = DriftStatistic("length", "hist", "length_hist")
CONFIDENCE = DriftStatistic("confidence", "hist", "confidence_hist")
LABEL_MIX = DriftStatistic("label", "categories", "label_counts")
CARDINALITY = DriftStatistic("cardinality", "hist", "cardinality_hist")
LABEL_RATE = DriftStatistic("label_rate", "rates", "label_counts")
OOV = DriftStatistic("oov", "vocabulary", "tokens")
EMBEDDING_MEAN = DriftStatistic("embedding_mean", "mean", "embedding")

TASKS: dict[TaskName, TaskSpec] = {
    "classification": TaskSpec(
        name="classification",
        prediction="the most probable label and its probability (probabilities over all labels sum to 1)",
        endpoint="/v1/classify",
        default_family="tfidf",
        data_fields=("label",),
        metric="macro_f1",
        drift_statistics=(LENGTH, CONFIDENCE, LABEL_MIX, OOV),
        batch_columns=("label", "score"),
    ),
    "multilabel": TaskSpec(
        name="multilabel",
        prediction="every label whose probability reaches its threshold (independent per-label probabilities)",
        endpoint="/v1/classify",
        default_family="tfidf",
        data_fields=("labels", "label"),
        metric="macro_f1",
        drift_statistics=(LENGTH, CONFIDENCE, LABEL_MIX, CARDINALITY, LABEL_RATE, OOV),
        batch_columns=("labels", "scores"),
    ),
    "entities": TaskSpec(
        name="entities",
        prediction="labelled character spans (start, end exclusive, label, text, score)",
        endpoint="/v1/entities",
        default_family="spacy",
        data_fields=("entities", "label"),
        metric="f1",
        drift_statistics=(
            LENGTH,
            DriftStatistic("entity_type", "categories", "label_counts"),
            DriftStatistic("entities_per_text", "hist", "cardinality_hist"),
        ),
        batch_columns=("entities",),
        preprocessing=False,
    ),
    "embedding": TaskSpec(
        name="embedding",
        prediction="one L2-normalised vector per text",
        endpoint="/v1/embed",
        default_family="transformer",
        data_fields=("label",),
        metric="knn_accuracy",
        drift_statistics=(LENGTH, EMBEDDING_MEAN),
        batch_columns=("vector",),
        evaluated_on=("classification",),
    ),
}

CARDINALITY_EDGES = [0, 1, 2, 3, 4, 5, 7, 10, 15, 20, 50, 100]
"""Bins of labels (or entities) predicted per text: ``[0, 1)``, ``[1, 2)`` ... the last bin holds 50 and more."""


def task_spec(task: str) -> TaskSpec:
    """The spec of ``task``.

    Raises:
        TaskError: an unknown task (the message lists the known ones).
    """
    if task not in TASK_NAMES:
        raise TaskError(f'Unknown task "{task}". Known tasks: {", ".join(TASK_NAMES)}.')
    return TASKS[task]


def tasks_of_endpoint(path: str) -> tuple[TaskName, ...]:
    """The tasks whose predictions the endpoint ``path`` answers (empty for any other path)."""
    return tuple(name for name, spec in TASKS.items() if spec.endpoint == path)


def wrong_task_message(path: str, model: str, version: str, task: str, answers: Sequence[str] | None = None) -> str:
    """The one line a client gets when it asks ``path`` of a model of another task (HTTP 409).

    ``answers`` are the tasks the endpoint answers (default: those whose endpoint is ``path``, for ``/v1/*``).
    """
    answered = " or ".join(tasks_of_endpoint(path) if answers is None else answers) or "no"
    right = TASKS[task].endpoint if task in TASK_NAMES else None
    hint = f" Send it to {right}." if right else ""
    article = "an" if task[:1] in ("a", "e", "i", "o", "u") else "a"
    return f"{path} answers {answered} models; model {model} version {version} is {article} {task} model.{hint}"


def label_decisions(proba: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Which labels a multi-label model predicts: ``proba >= thresholds`` (boolean, same shape as ``proba``)."""
    return np.asarray(proba) >= np.asarray(thresholds, dtype=np.float64)[None, :]


def predicted_counts(
    task: TaskName, output: TaskOutput, labels: Sequence[str], thresholds: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """How often each label was predicted for each text, and each text's confidence.

    The one place that says what "predicted labels" means per task: serving counts them
    (``nlpops_predictions_total``), the bundle's reference statistics and the live monitor compare their mix.

    Args:
        task: the model's task.
        output: the model's answer for ``n`` texts.
        labels: the model's labels.
        thresholds: per-label thresholds (multilabel).

    Returns:
        ``(counts, confidence)``: int64 ``(n, len(labels))`` (one-hot of the most probable label for
        classification; 0/1 per label above its threshold for multilabel; spans per label for entities; no
        columns for embeddings) and the top probability per text (None where a task has none).
    """
    if task == "classification" or task == "multilabel":
        proba = np.asarray(output)
        n = proba.shape[0]
        confidence = proba.max(axis=1) if n and proba.shape[1] else np.zeros(n)
        if task == "classification":
            counts = np.zeros(proba.shape, dtype=np.int64)
            if n and proba.shape[1]:
                counts[np.arange(n), proba.argmax(axis=1)] = 1
            return counts, confidence
        if thresholds is None:
            raise TaskError("A multilabel model needs per-label thresholds. Rebuild the bundle with this nlpops.")
        return label_decisions(proba, thresholds).astype(np.int64), confidence
    if task == "entities":
        spans: Spans = output  # type: ignore[assignment]
        index = {label: i for i, label in enumerate(labels)}
        counts = np.zeros((len(spans), len(labels)), dtype=np.int64)
        for row, found in enumerate(spans):
            for span in found:
                column = index.get(span.label)
                if column is not None:
                    counts[row, column] += 1
        return counts, None
    return np.zeros((len(output), 0), dtype=np.int64), None


def join_outputs(parts: Sequence[TaskOutput]) -> TaskOutput:
    """The answers of consecutive groups of texts as one answer (arrays stacked, span lists concatenated).

    Raises:
        TaskError: no parts.
    """
    if not parts:
        raise TaskError("No outputs to join. This is a bug in nlpops.")
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], np.ndarray):
        return np.concatenate([np.asarray(p) for p in parts])
    joined: Spans = []
    for part in parts:
        joined.extend(part)
    return joined


__all__ = [
    "CARDINALITY",
    "CARDINALITY_EDGES",
    "CONFIDENCE",
    "EMBEDDING_MEAN",
    "LABEL_MIX",
    "LABEL_RATE",
    "LENGTH",
    "OOV",
    "TASKS",
    "TASK_NAMES",
    "DriftStatistic",
    "Span",
    "Spans",
    "TaskName",
    "TaskOutput",
    "TaskSpec",
    "join_outputs",
    "label_decisions",
    "predicted_counts",
    "task_spec",
    "tasks_of_endpoint",
    "wrong_task_message",
]
