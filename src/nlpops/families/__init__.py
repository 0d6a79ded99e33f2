"""Model families: a dataset and the model settings in, a verified bundle out.

Each family module exposes ``train_<family>(settings, texts, labels) -> TrainedModel`` and imports its
framework lazily; asking for a family whose extra is missing raises MissingExtraError naming the install.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nlpops._version import __version__
from nlpops.bundle import Bundle, new_version, save_bundle
from nlpops.checklist import NlpopsConfig
from nlpops.data import Dataset, check_trainable, fingerprint
from nlpops.errors import FamilyError
from nlpops.families.base import TrainedModel
from nlpops.metrics import classification_report
from nlpops.preprocess import DEFAULT_STEPS, build_preprocessor
from nlpops.reference import reference_statistics

FAMILIES: dict[str, str] = {
    "tfidf": "nlpops.families.tfidf:train_tfidf",
    "spacy": "nlpops.families.spacy:train_spacy",
    "transformer": "nlpops.families.transformer:train_transformer",
}
REFERENCE_TEXTS = 200  # texts kept in the bundle for parity checks after export


def train_model(config: NlpopsConfig, texts: list[str], labels: list[str]) -> TrainedModel:
    """Train the configured family on preprocessed texts."""
    family = config.model.family
    target = FAMILIES.get(family)
    if target is None:
        raise FamilyError(f'Unknown model family "{family}" (known: {", ".join(FAMILIES)}).')
    module_name, func_name = target.split(":")
    train: Callable[..., TrainedModel] = getattr(importlib.import_module(module_name), func_name)
    settings = getattr(config.model, family)
    return train(settings, texts, labels)


def build_bundle(
    config: NlpopsConfig,
    train: Dataset,
    test: Dataset | None,
    out: Path | str,
    *,
    name: str | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Bundle:
    """Train, evaluate on ``test``, and write a bundle with metrics, fingerprint and reference statistics.

    Raises:
        DataError: the training data cannot train a classifier.
        FamilyError / MissingExtraError: the family failed or its extra is not installed.
        BundleError: ``out`` exists.
    """
    step = progress or (lambda _msg: None)
    check_trainable(train)
    preprocess = build_preprocessor(DEFAULT_STEPS)
    step(f"training {config.model.family} on {len(train)} rows")
    model = train_model(config, preprocess(train.texts), train.labels)
    metrics: dict[str, Any] = {}
    sample = test if test is not None and len(test) else train
    step(f"evaluating on {len(sample)} rows")
    proba = model.predict_proba(preprocess(sample.texts))
    if test is not None and len(test):
        predicted = [model.labels[i] for i in proba.argmax(axis=1)]
        metrics = classification_report(test.labels, predicted, model.labels, test.langs)
        metrics["test_fingerprint"] = fingerprint(test)["sha256"]
    vocabulary = model.vocabulary() if hasattr(model, "vocabulary") else None
    reference = reference_statistics(sample.texts, proba, model.labels, sample.langs, vocabulary)
    reference["texts"] = sample.texts[:REFERENCE_TEXTS]
    languages = sorted(set(train.langs)) if train.langs is not None else list(config.languages.languages)
    fields = {
        "name": name or config.name,
        "version": new_version(),
        "family": model.family,
        "runtime": model.runtime,
        "labels": model.labels,
        "languages": languages,
        "preprocessing": list(DEFAULT_STEPS),
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


__all__ = ["FAMILIES", "build_bundle", "train_model"]
