"""spaCy family: a ``textcat`` component (exclusive classes, ``classification``) or an ``ner`` component
(``entities``) trained from ``spacy.blank(lang)`` or from an installed pipeline package, saved in spaCy's own
format inside the bundle (folder ``spacy/``).

An entity model trained from a pipeline that has an ``ner`` already fine-tunes it: the data's entity types are
added to the ones it knows, and only the entity components are trained (and run at prediction time).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.checklist import SpacySettings
from nlpops.errors import FamilyError
from nlpops.families.base import package_versions
from nlpops.progress import Progress, as_progress
from nlpops.runtimes.spacy import (
    NER,
    PIPELINE_DIR,
    TEXTCAT,
    entity_components,
    entity_labels,
    import_spacy,
    ner_spans,
    textcat_proba,
)
from nlpops.tasks import Span, Spans, TaskName

FAMILY = "spacy"


def textcat_config(architecture: str) -> dict[str, Any]:
    """The ``textcat`` component config: a bag-of-words model (fast) or spaCy's default ensemble."""
    if architecture == "bow":
        return {
            "model": {
                "@architectures": "spacy.TextCatBOW.v3",
                "exclusive_classes": True,
                "ngram_size": 2,
                "no_output_layer": False,
                "length": 262144,
            }
        }
    return {}


def load_base(settings: SpacySettings) -> Any:
    """``spacy.blank(lang)`` or the installed pipeline ``settings.base``.

    Raises:
        FamilyError: unknown language or pipeline package not installed.
    """
    spacy = import_spacy("The spaCy family")
    if settings.base == "blank":
        try:
            return spacy.blank(settings.lang)
        except (ImportError, KeyError, ValueError) as exc:
            raise FamilyError(f'spaCy has no language "{settings.lang}": {exc}. Set model.spacy.lang.') from exc
    try:
        return spacy.load(settings.base)
    except OSError as exc:
        raise FamilyError(
            f'The spaCy pipeline "{settings.base}" is not installed. Run: pip install {settings.base} '
            '(or set model.spacy.base: "blank").'
        ) from exc


class SpacyModel:
    """A trained spaCy pipeline with a ``textcat`` component (runtime ``spacy``)."""

    family = FAMILY
    runtime = "spacy"
    task: TaskName = "classification"
    thresholds: list[float] | None = None

    def __init__(self, nlp: Any, labels: list[str], base: str) -> None:
        self.nlp = nlp
        self.labels = labels
        extra = [] if base == "blank" else [base]
        self.requirements = package_versions("spacy", *extra)
        self.runtime_options: dict[str, Any] = {"pipeline_dir": PIPELINE_DIR}

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return textcat_proba(self.nlp, texts, self.labels)

    def save(self, directory: Path) -> None:
        self.nlp.to_disk(directory / PIPELINE_DIR)


def train_spacy(
    settings: SpacySettings, texts: Sequence[str], labels: Sequence[str], *, progress: Progress | None = None
) -> SpacyModel:
    """Train a ``textcat`` on preprocessed ``texts`` (progress: one unit per batch of every epoch).

    Raises:
        MissingExtraError: spaCy is not installed.
        FamilyError: the base pipeline cannot be loaded, or already has a ``textcat``.
    """
    spacy = import_spacy("The spaCy family")
    from spacy.training import Example

    spacy.util.fix_random_seed(settings.seed)
    nlp = load_base(settings)
    if TEXTCAT in nlp.pipe_names:
        raise FamilyError(f'The pipeline "{settings.base}" already has a "{TEXTCAT}" component. Use another base.')
    textcat = nlp.add_pipe("textcat", name=TEXTCAT, config=textcat_config(settings.architecture))
    classes = sorted(set(labels))
    for label in classes:
        textcat.add_label(label)
    examples = [
        Example.from_dict(nlp.make_doc(text), {"cats": {c: float(c == label) for c in classes}})
        for text, label in zip(texts, labels, strict=True)
    ]
    rng = random.Random(settings.seed)
    with nlp.select_pipes(enable=[TEXTCAT]):
        optimizer = nlp.initialize(lambda: examples) if settings.base == "blank" else nlp.resume_training()
        if settings.base != "blank":
            textcat.initialize(lambda: examples, nlp=nlp)
        batches = -(-len(examples) // settings.batch_size)
        report = as_progress(progress)
        report.step(f"{settings.epochs} epochs of {batches} batches", total=settings.epochs * batches)
        for epoch in range(settings.epochs):
            rng.shuffle(examples)
            for start in range(0, len(examples), settings.batch_size):
                nlp.update(examples[start : start + settings.batch_size], drop=settings.dropout, sgd=optimizer)
                report.advance(1, f"epoch {epoch + 1}/{settings.epochs}")
    return SpacyModel(nlp, classes, settings.base)


class SpacyEntityModel:
    """A trained spaCy pipeline whose entity components answer ``entities`` (runtime ``spacy``)."""

    family = FAMILY
    runtime = "spacy"
    task: TaskName = "entities"
    thresholds: list[float] | None = None

    def __init__(self, nlp: Any, base: str) -> None:
        self.nlp = nlp
        self.labels = entity_labels(nlp)
        extra = [] if base == "blank" else [base]
        self.requirements = package_versions("spacy", *extra)
        self.runtime_options: dict[str, Any] = {"pipeline_dir": PIPELINE_DIR}

    def predict_entities(self, texts: Sequence[str]) -> Spans:
        return ner_spans(self.nlp, texts)

    def save(self, directory: Path) -> None:
        self.nlp.to_disk(directory / PIPELINE_DIR)


def entity_examples(nlp: Any, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> list[Any]:
    """Training examples: each text tokenised by ``nlp`` with its gold spans as entities.

    A span whose offsets fall inside a token (the tokenizer splits the text elsewhere) cannot be learnt as
    given; its tokens are marked unknown (neither entity nor outside), as spaCy itself does, without a warning.
    """
    from spacy.training import Example

    examples = []
    for text, gold in zip(texts, spans, strict=True):
        predicted = nlp.make_doc(text)
        reference = nlp.make_doc(text)
        aligned, unknown = [], []
        for span in gold:
            found = reference.char_span(span.start, span.end, label=span.label, alignment_mode="strict")
            if found is not None:
                aligned.append(found)
            else:
                wide = reference.char_span(span.start, span.end, alignment_mode="expand")
                if wide is not None:
                    unknown.append(wide)
        unknown = [u for u in unknown if not any(u.start < a.end and a.start < u.end for a in aligned)]
        reference.set_ents(aligned, missing=unknown, default="outside")
        examples.append(Example(predicted, reference))
    return examples


def train_spacy_entities(
    settings: SpacySettings,
    texts: Sequence[str],
    spans: Sequence[Sequence[Span]],
    *,
    progress: Progress | None = None,
) -> SpacyEntityModel:
    """Train (or fine-tune) an ``ner`` component on ``texts`` (as given) and their gold spans (progress: one unit
    per batch of every epoch).

    Raises:
        MissingExtraError: spaCy is not installed.
        FamilyError: the base pipeline cannot be loaded.
    """
    spacy = import_spacy("The spaCy family")
    spacy.util.fix_random_seed(settings.seed)
    nlp = load_base(settings)
    fresh = NER not in nlp.pipe_names
    ner = nlp.add_pipe("ner", name=NER) if fresh else nlp.get_pipe(NER)
    for label in sorted({s.label for gold in spans for s in gold}):
        ner.add_label(label)
    examples = entity_examples(nlp, texts, spans)
    rng = random.Random(settings.seed)
    with nlp.select_pipes(enable=entity_components(nlp)):
        if settings.base == "blank":
            optimizer = nlp.initialize(lambda: examples)
        else:
            optimizer = nlp.resume_training()
            if fresh:
                ner.initialize(lambda: examples, nlp=nlp)
        batches = -(-len(examples) // settings.batch_size)
        report = as_progress(progress)
        report.step(f"{settings.epochs} epochs of {batches} batches", total=settings.epochs * batches)
        for epoch in range(settings.epochs):
            rng.shuffle(examples)
            for start in range(0, len(examples), settings.batch_size):
                nlp.update(examples[start : start + settings.batch_size], drop=settings.dropout, sgd=optimizer)
                report.advance(1, f"epoch {epoch + 1}/{settings.epochs}")
    return SpacyEntityModel(nlp, settings.base)


__all__ = [
    "FAMILY",
    "SpacyEntityModel",
    "SpacyModel",
    "entity_examples",
    "load_base",
    "textcat_config",
    "train_spacy",
    "train_spacy_entities",
]
