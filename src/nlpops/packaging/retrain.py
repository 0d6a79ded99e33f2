"""Retraining a packaged model the way its own library trains it, then packaging the result again.

- Hugging Face classifiers: fine-tuning continues from the packaged weights (``model.transformer`` epochs,
  learning rate, batch size, seed); the classes stay the model's.
- scikit-learn pipelines: a fresh copy with the same parameters is fitted on the new data.
- spaCy pipelines: spaCy's own training loop updates the packaged pipeline, with the pipeline's own config.
- ONNX graphs cannot be retrained: there is no training code in a graph.

The challenger is written by the same packaging core (parity check, reference statistics from the training
data, metrics on the held-out set), so it carries what the champion carries.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nlpops.bundle import Bundle
from nlpops.checklist import NlpopsConfig
from nlpops.data import Dataset
from nlpops.errors import PackageError
from nlpops.packaging.core import PackageReport, open_source, package_source
from nlpops.packaging.source import SourceOptions


def packaged_kind(bundle: Bundle) -> str | None:
    """The source kind of a packaged bundle (``huggingface``, ``spacy``, ``skops``, ``pickle``, ``onnx``), or
    None for a bundle nlpops trained."""
    package = bundle.manifest.package
    if not package:
        return None
    return str(package.get("source", {}).get("kind", "")) or None


def retrain_packaged(
    champion: Bundle,
    data: Dataset,
    test: Dataset,
    out: Path | str,
    config: NlpopsConfig,
    *,
    name: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> PackageReport:
    """Train a challenger from the packaged ``champion`` on ``data`` and package it at ``out``.

    Args:
        champion: a bundle written by ``nlpops package``.
        data: the training data.
        test: the held-out set (metrics; spaCy's evaluation corpus).
        out: the challenger's bundle directory.
        config: the config (``model.transformer`` fine-tuning settings).
        name: the model name (default: the champion's).
        progress: receives short progress messages.

    Raises:
        PackageError: the champion cannot be retrained (an ONNX graph, an entity model) or is not a packaged bundle.
        DataError: the data has labels a fixed-class model does not know.
    """
    step = progress or (lambda _msg: None)
    kind = packaged_kind(champion)
    model_name = name or champion.manifest.name
    extra: dict[str, Any] = {"retrained_from": {"name": champion.manifest.name, "version": champion.manifest.version}}
    common: dict[str, Any] = {"name": model_name, "data": data, "test": test, "progress": progress, "extra": extra}
    if champion.manifest.task == "entities" and kind is not None:
        raise PackageError(
            f'"{model_name}" is a packaged entity model, which nlpops does not retrain yet: retrain it with its own '
            "library and package the result again, or train a spaCy NER with nlpops (nlpops train --data "
            "ENTITIES.jsonl, model.spacy.base: the pipeline)."
        )
    if kind == "onnx":
        raise PackageError(
            f'"{model_name}" was packaged from an ONNX graph, which cannot be retrained: retrain it where it was '
            "built, then package the new graph (nlpops package MODEL.onnx --labels labels.txt)."
        )
    if kind in ("skops", "pickle"):
        from nlpops.packaging.sklearn import refit_pipeline

        step(f"refitting the scikit-learn pipeline on {len(data)} rows")
        return package_source(refit_pipeline(champion, data), out, **common)
    if kind not in ("huggingface", "spacy"):
        raise PackageError(f'Bundle "{champion.path}" was not packaged by nlpops package; retrain it with its family.')
    with tempfile.TemporaryDirectory(prefix=".nlpops-retrain-") as tmp:
        if kind == "huggingface":
            from nlpops.packaging.huggingface import fine_tune_classifier

            step(f"fine-tuning the packaged classifier on {len(data)} rows")
            folder = fine_tune_classifier(champion, data, config.model.transformer, Path(tmp) / "model")
        else:
            from nlpops.packaging.spacy import update_pipeline

            step(f"updating the spaCy pipeline on {len(data)} rows with spaCy's training loop")
            folder = update_pipeline(champion, data, test, Path(tmp) / "spacy")
        component = str(champion.manifest.runtime_options.get("component", "")) or None
        return package_source(open_source(folder, SourceOptions(component=component)), out, **common)


__all__ = ["packaged_kind", "retrain_packaged"]
