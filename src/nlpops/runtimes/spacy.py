"""spaCy runtime: a pipeline saved with ``nlp.to_disk`` (spaCy's own format, no pickle) with a ``textcat`` (or,
for a ``multilabel`` bundle, a ``textcat_multilabel``: its per-label scores are kept as they are).

Only the text classifier runs at prediction time, plus the components it needs: ``runtime_options``
``component`` names it (default ``textcat``) and ``components`` lists what runs (default: it alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nlpops.bundle import Bundle
from nlpops.errors import MissingExtraError, RuntimeLoadError
from nlpops.runtimes.base import BasePredictor

PIPELINE_DIR = "spacy"
TEXTCAT = "textcat"


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


class SpacyPredictor(BasePredictor):
    """A spaCy textcat bundle. Only the ``textcat`` component runs at prediction time."""

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
        missing = [c for c in self.components if c not in self.nlp.pipe_names]
        if missing:
            raise RuntimeLoadError(
                f'The spaCy pipeline in "{folder}" has no "{missing[0]}" component. Rebuild the bundle.'
            )
        known = set(self.nlp.get_pipe(self.component).labels)
        if known != set(self.labels):
            raise RuntimeLoadError(f'Bundle "{bundle.path}": the textcat labels do not match the manifest labels.')

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        multilabel = self.task == "multilabel"
        return textcat_proba(self.nlp, texts, self.labels, components=self.components, normalize=not multilabel)

    def text_lengths(self, texts: Sequence[str]) -> list[int]:
        """Token counts from spaCy's tokenizer."""
        return [len(self.nlp.make_doc(t)) for t in self._preprocess(texts)]


__all__ = ["PIPELINE_DIR", "TEXTCAT", "SpacyPredictor", "import_spacy", "textcat_proba"]
