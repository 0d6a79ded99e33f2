"""spaCy runtime: a pipeline saved with ``nlp.to_disk`` (spaCy's own format, no pickle).

A ``classification`` bundle runs its ``textcat`` component only (a ``multilabel`` bundle its
``textcat_multilabel``: its per-label scores are kept as they are): ``runtime_options`` ``component`` names it
(default ``textcat``) and ``components`` lists what runs (default: it alone). An ``entities`` bundle runs the
components that set ``doc.ents`` (``ner``, ``beam_ner``, ``entity_ruler``) and the shared ``tok2vec`` they listen
to, or the components ``runtime_options`` ``components`` lists (a packaged pipeline lists every component up to its
last entity component: a parser or senter before the ``ner`` sets the sentence boundaries its entities may not
cross), and answers ``doc.ents`` as character spans of the text as given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nlpops.bundle import Bundle
from nlpops.errors import MissingExtraError, RuntimeLoadError
from nlpops.runtimes.base import BasePredictor, RoutingDecision
from nlpops.tasks import Span, Spans

PIPELINE_DIR = "spacy"
TEXTCAT = "textcat"
NER = "ner"
ENTITY_FACTORIES = frozenset({"ner", "beam_ner", "entity_ruler"})
"""The spaCy component factories that set ``doc.ents``."""


def import_spacy(what: str) -> Any:
    """The ``spacy`` module, or MissingExtraError naming the install."""
    try:
        import spacy
    except ImportError as exc:
        raise MissingExtraError.for_extra(what, "spacy", "spacy") from exc
    return spacy


def textcat_proba(
    nlp: Any,
    texts: Sequence[str],
    labels: Sequence[str],
    batch_size: int = 256,
    components: Sequence[str] = (TEXTCAT,),
    *,
    normalize: bool = True,
) -> np.ndarray:
    """Probabilities (n, len(labels)) from the text classifier's scores, in ``labels`` order, rows summing to 1.

    Args:
        components: the pipeline components to run (the text classifier and what it needs).
        normalize: rescale rows to sum to 1 (a ``textcat``); False keeps a ``textcat_multilabel``'s independent
            per-label scores as they are.
    """
    out = np.zeros((len(texts), len(labels)), dtype=np.float64)
    with nlp.select_pipes(enable=list(components)):
        for row, doc in enumerate(nlp.pipe(list(texts), batch_size=batch_size)):
            out[row] = [doc.cats.get(label, 0.0) for label in labels]
    if not normalize:
        return out
    total = out.sum(axis=1, keepdims=True)
    return np.asarray(out / np.where(total > 0, total, 1.0))


def entity_components(nlp: Any) -> list[str]:
    """The components of ``nlp`` that decide ``doc.ents``: those that set entities and the tok2vec components
    they listen to, in pipeline order."""
    from spacy.pipeline import Tok2Vec

    needed = {name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory in ENTITY_FACTORIES}
    for name, pipe in nlp.pipeline:
        if isinstance(pipe, Tok2Vec) and needed & set(pipe.listening_components):
            needed.add(name)
    return [name for name in nlp.pipe_names if name in needed]


def entity_labels(nlp: Any) -> list[str]:
    """Every entity type the entity components of ``nlp`` can set, sorted."""
    labels: set[str] = set()
    for name in entity_components(nlp):
        if nlp.get_pipe_meta(name).factory in ENTITY_FACTORIES:
            labels.update(nlp.get_pipe(name).labels)
    return sorted(labels)


def ner_spans(nlp: Any, texts: Sequence[str], batch_size: int = 256, components: Sequence[str] | None = None) -> Spans:
    """``doc.ents`` of each text as :class:`~nlpops.tasks.Span` (character offsets into the text as given,
    score 1.0: spaCy's greedy NER gives no span confidence), running only ``components`` (default:
    :func:`entity_components`)."""
    keep = set(entity_components(nlp) if components is None else components)
    disable = [name for name in nlp.pipe_names if name not in keep]
    return [
        [Span(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents]
        for doc in nlp.pipe(list(texts), batch_size=batch_size, disable=disable)
    ]


class SpacyPredictor(BasePredictor):
    """A spaCy bundle: a ``textcat`` (classification) or entity components (entities), run alone."""

    def __init__(self, bundle: Bundle) -> None:
        super().__init__(bundle)
        spacy = import_spacy("spaCy bundles")
        options = bundle.manifest.runtime_options
        folder = bundle.path / str(options.get("pipeline_dir", PIPELINE_DIR))
        self.component = str(options.get("component", TEXTCAT))
        self.components = [str(c) for c in options.get("components", [self.component])]
        bundle.file(f"{folder.name}/config.cfg")
        try:
            self.nlp = spacy.load(folder)
        except (OSError, ValueError, KeyError) as exc:
            raise RuntimeLoadError(f'spaCy cannot load "{folder}": {exc}. Rebuild the bundle with this spaCy.') from exc
        if self.task == "entities":
            self.components = [str(c) for c in options.get("components", entity_components(self.nlp))]
        missing = [c for c in self.components if c not in self.nlp.pipe_names]
        if missing:
            raise RuntimeLoadError(
                f'The spaCy pipeline in "{folder}" has no "{missing[0]}" component. Rebuild the bundle.'
            )
        if self.task == "entities":
            self._check_entities(folder)
            return
        known = set(self.nlp.get_pipe(self.component).labels)
        if known != set(self.labels):
            raise RuntimeLoadError(f'Bundle "{bundle.path}": the textcat labels do not match the manifest labels.')

    def _check_entities(self, folder: Any) -> None:
        if not entity_components(self.nlp):
            raise RuntimeLoadError(
                f'The spaCy pipeline in "{folder}" has no component that sets entities (ner, entity_ruler). '
                "Rebuild the bundle."
            )
        if set(entity_labels(self.nlp)) != set(self.labels):
            raise RuntimeLoadError(
                f'Bundle "{self.bundle.path}": the entity types of the pipeline do not match the manifest labels. '
                "Rebuild the bundle."
            )

    def predict_entities(self, texts: Sequence[str], routing: RoutingDecision | None = None) -> Spans:
        """``doc.ents`` of each text (character offsets into the text as given; no preprocessing).

        Raises:
            TaskError: the bundle is not an entity model.
        """
        if self.task != "entities":
            raise self._wrong_task("entity", "entities")
        return ner_spans(self.nlp, self._preprocess(texts), components=self.components)

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        multilabel = self.task == "multilabel"
        return textcat_proba(self.nlp, texts, self.labels, components=self.components, normalize=not multilabel)

    def text_lengths(self, texts: Sequence[str]) -> list[int]:
        """Token counts from spaCy's tokenizer."""
        return [len(self.nlp.make_doc(t)) for t in self._preprocess(texts)]


__all__ = [
    "ENTITY_FACTORIES",
    "NER",
    "PIPELINE_DIR",
    "TEXTCAT",
    "SpacyPredictor",
    "entity_components",
    "entity_labels",
    "import_spacy",
    "ner_spans",
    "textcat_proba",
]
