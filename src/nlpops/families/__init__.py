"""Model families: a dataset and the model settings in, a verified bundle out.

Each family module exposes one trainer per task it trains, ``(settings, texts, answers) -> TrainedModel``
(answers in the task's form: labels, label sets, spans), and imports its framework lazily; asking for a
family whose extra is missing raises MissingExtraError naming the install. :data:`TRAINERS` is the families'
per-task piece: which family trains which task, and with what.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nlpops._version import __version__
from nlpops.bundle import Bundle, new_version, save_bundle
from nlpops.checklist import ModelSettings, NlpopsConfig
from nlpops.data import Dataset, check_trainable, fingerprint
from nlpops.errors import DataError, FamilyError
from nlpops.families.base import TrainedModel, trained_output
from nlpops.metrics import task_report
from nlpops.preprocess import DEFAULT_STEPS, build_preprocessor
from nlpops.progress import Progress, ProgressLike, as_progress
from nlpops.reference import reference_statistics
from nlpops.tasks import TASKS, TaskName

FAMILIES: dict[str, str] = {
    "tfidf": "nlpops.families.tfidf:train_tfidf",
    "spacy": "nlpops.families.spacy:train_spacy",
    "transformer": "nlpops.families.transformer:train_transformer",
}
"""The classification trainer of each family."""

TRAINERS: dict[tuple[str, TaskName], str] = {
    **{(family, "classification"): target for family, target in FAMILIES.items()},
    ("tfidf", "multilabel"): "nlpops.families.tfidf:train_tfidf_multilabel",
    ("transformer", "multilabel"): "nlpops.families.transformer:train_transformer_multilabel",
    ("spacy", "entities"): "nlpops.families.spacy:train_spacy_entities",
    ("transformer", "embedding"): "nlpops.families.embedding:train_encoder",
}
"""``(family, task) -> "module:function"``: the trainer of each task a family trains."""

REFERENCE_TEXTS = 200  # texts kept in the bundle for parity checks after export


def families_for(task: TaskName) -> list[str]:
    """The families that train ``task`` models."""
    return [family for family, trained in TRAINERS if trained == task]


def resolve_family(model: ModelSettings, task: TaskName, family: str | None = None) -> str:
    """The family to train ``task`` with.

    An explicit ``family`` (``nlpops train --family``) must train the task. Otherwise ``model.family`` is used
    when it trains the task, else the task's default family (:data:`nlpops.tasks.TASKS`): spacy for entities.

    Raises:
        FamilyError: an explicit family does not train this task (the message names those that do).
    """
    if family is None:
        family = model.family if (model.family, task) in TRAINERS else TASKS[task].default_family
    if (family, task) not in TRAINERS:
        others = ", ".join(families_for(task)) or "none yet"
        raise FamilyError(
            f"The {family} family does not train {task} models (families that do: {others}). "
            f"Pass --family {families_for(task)[0] if families_for(task) else '...'} or set model.family."
        )
    return family


def train_model(
    config: NlpopsConfig,
    texts: list[str],
    answers: list[Any],
    task: TaskName = "classification",
    family: str | None = None,
    progress: Progress | None = None,
) -> TrainedModel:
    """Train a family on preprocessed texts and their answers (labels, label sets or spans, by task).

    Every trainer is called as ``trainer(settings, texts, answers, progress=progress)`` and reports its
    counted phases (epochs, batches embedded) there.

    Args:
        config: the config (``model`` section: the family and its settings).
        texts: preprocessed texts.
        answers: one gold answer per text, in the task's form.
        task: the task to train for.
        family: the family; default :func:`resolve_family`.
        progress: where the trainer reports progress (None: nowhere).
    """
    family = resolve_family(config.model, task, family)
    target = TRAINERS.get((family, task))
    if target is None:
        raise FamilyError(f'Unknown model family "{family}" for {task} (known: {", ".join(families_for(task))}).')
    module_name, func_name = target.split(":")
    train: Callable[..., TrainedModel] = getattr(importlib.import_module(module_name), func_name)
    settings = getattr(config.model, family)
    report = as_progress(progress)
    if task == "multilabel":  # tune a threshold per label on held-out data, then fit on everything
        from nlpops.families.multilabel import train_with_thresholds

        return train_with_thresholds(
            lambda part, labels: train(settings, part, labels, progress=report),
            texts,
            answers,
            holdout=config.model.thresholds_holdout,
            seed=config.data.seed,
        )
    return train(settings, texts, answers, progress=report)


def build_bundle(
    config: NlpopsConfig,
    train: Dataset,
    test: Dataset | None,
    out: Path | str,
    *,
    name: str | None = None,
    overwrite: bool = False,
    progress: ProgressLike = None,
    family: str | None = None,
    extra_metrics: dict[str, Any] | None = None,
) -> Bundle:
    """Train, evaluate on ``test``, and write a bundle with metrics, fingerprint and reference statistics.

    ``extra_metrics`` are recorded beside the test metrics (how a language strategy was chosen, for example).

    Raises:
        DataError: the training data cannot train a classifier.
        FamilyError / MissingExtraError: the family failed or its extra is not installed.
        BundleError: ``out`` exists.
    """
    report = as_progress(progress)
    step = report.step
    task = train.task
    if test is not None and test.task != task:
        raise DataError(
            f'The training data "{train.source}" is {task} data but the test data "{test.source}" is {test.task} '
            "data. Give test data labelled for the same task (or pass --task)."
        )
    check_trainable(train)
    family = resolve_family(config.model, task, family)
    steps = DEFAULT_STEPS if TASKS[task].preprocessing else ()
    preprocess = build_preprocessor(steps)
    step(f"training {family} ({task}) on {len(train)} rows")
    model = train_model(config, preprocess(train.texts), list(train.answers), task, family, report)
    metrics: dict[str, Any] = {}
    sample = test if test is not None and len(test) else train
    step(f"evaluating on {len(sample)} rows")
    output = trained_output(model, preprocess(sample.texts))
    if test is not None and len(test):
        metrics = task_report(task, test.answers, output, model.labels, thresholds=model.thresholds, langs=test.langs)
        metrics["test_fingerprint"] = fingerprint(test)["sha256"]
    metrics.update(extra_metrics or {})
    vocabulary = model.vocabulary() if hasattr(model, "vocabulary") else None
    reference = reference_statistics(
        sample.texts, output, model.labels, sample.langs, vocabulary, task=task, thresholds=model.thresholds
    )
    reference["texts"] = sample.texts[:REFERENCE_TEXTS]
    languages = sorted(set(train.langs)) if train.langs is not None else list(config.languages.languages)
    fields = {
        "name": name or config.name,
        "version": new_version(),
        "family": model.family,
        "runtime": model.runtime,
        "task": task,
        "labels": model.labels,
        "thresholds": dict(zip(model.labels, model.thresholds, strict=True)) if model.thresholds else {},
        "languages": languages,
        "preprocessing": list(steps),
        "metrics": metrics,
        "data": fingerprint(train),
        "reference": reference,
        "requirements": model.requirements,
        "config": {"model": config.model.model_dump(mode="json"), "data": config.data.model_dump(mode="json")},
        "runtime_options": model.runtime_options,
        "nlpops_version": __version__,
    }
    step("writing bundle")
    return save_bundle(out, fields, model.save, overwrite=overwrite)


__all__ = ["FAMILIES", "TRAINERS", "build_bundle", "families_for", "resolve_family", "train_model"]
