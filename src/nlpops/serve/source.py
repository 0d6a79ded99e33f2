"""Model sources: a callable that says which version a ref points at now, and where its bundle is.

A bundle path never changes; ``NAME@ALIAS`` follows the registry alias (the service hot-swaps when it
moves); ``NAME:VERSION`` is pinned. Loading a pointed-at bundle into a verified, warm model is
:func:`load_model`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nlpops.bundle import read_manifest
from nlpops.errors import NlpopsError, RuntimeLoadError, ServingError
from nlpops.runtimes import Predictor, load_predictor, predict_output
from nlpops.tasks import Spans, TaskOutput

if TYPE_CHECKING:
    from nlpops.checklist import RegistrySettings
    from nlpops.registry.base import Registry

_WARMUP_ROUNDS = 3
_VERIFY_TEXTS = 32


@dataclass(frozen=True)
class ModelPointer:
    """Where a ref points now.

    Args:
        name: the model name clients see.
        version: the version clients see (the registry version number, or the bundle's version).
        bundle_path: the bundle directory to load.
        lang: serve only this language of a model set (None: the whole bundle).
    """

    name: str
    version: str
    bundle_path: Path
    lang: str | None = None


ModelSource = Callable[[], ModelPointer]


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A verified, warmed predictor and the pointer it was loaded from."""

    pointer: ModelPointer
    predictor: Predictor

    @property
    def name(self) -> str:
        return self.pointer.name

    @property
    def version(self) -> str:
        return self.pointer.version


def bundle_source(path: Path | str) -> ModelSource:
    """A source for a plain bundle directory: it always points at the same bundle.

    Raises:
        BundleError: ``path`` is not a readable bundle.
    """
    manifest = read_manifest(path)
    pointer = ModelPointer(manifest.name, manifest.version, Path(path))
    return lambda: pointer


def registry_source(registry: Registry, name: str, alias_or_version: str) -> ModelSource:
    """A source that asks ``registry`` where ``name@alias`` (or ``name:version``) points, each time it is called."""

    def current() -> ModelPointer:
        found = registry.resolve(name, alias_or_version)
        return ModelPointer(found.name, str(found.version), Path(found.bundle_path))

    return current


def source_for_ref(ref: str, registry_settings: RegistrySettings, lang: str | None = None) -> ModelSource:
    """The source for a ``nlpops serve REF``: a bundle path, ``NAME``, ``NAME@ALIAS`` or ``NAME:VERSION``.

    The ref is resolved now (so a bad one fails at start) by :func:`nlpops.registry.resolve_bundle`, and again
    at every call for an alias. With ``lang``, every pointer asks for that language's model of a model set only.

    Raises:
        RegistryError: ``ref`` is malformed. NotFoundError: the bundle path or the registry entry does not exist.
        BundleError: a bundle path is not a readable bundle.
    """
    from nlpops.registry import resolve_bundle

    resolved = resolve_bundle(ref, registry_settings)
    if resolved.entry is None:
        source = bundle_source(resolved.path)
    else:

        def source() -> ModelPointer:
            now = resolved.refresh()
            assert now.entry is not None  # a registry reference keeps its entry
            return ModelPointer(now.entry.name, str(now.entry.version), Path(now.path))

    if lang is None:
        return source
    inner = source
    return lambda: replace(inner(), lang=lang)


def follows_alias(ref: str) -> bool:
    """Whether ``ref`` can move (``NAME`` or ``NAME@ALIAS``); paths and pinned versions never do."""
    from nlpops.registry import parse_ref

    return parse_ref(ref).kind == "alias"


def load_model(pointer: ModelPointer) -> LoadedModel:
    """Load the bundle ``pointer`` names, check its predictions on reference texts, and warm it up.

    Raises:
        BundleError / RuntimeLoadError / MissingExtraError: the bundle cannot be loaded.
        ConfigError: ``pointer.lang`` is set but the bundle is a single model, not a model set.
        ServingError: the loaded model's outputs are malformed for its task (:func:`check_output`).
    """
    predictor = load_predictor(pointer.bundle_path)
    if pointer.lang is not None:
        predictor = predictor.for_language(pointer.lang)
    texts = verification_texts(predictor)
    try:
        output = predict_output(predictor, texts)
    except NlpopsError:
        raise
    except Exception as exc:  # a runtime failing on its own reference texts: refuse the version
        raise RuntimeLoadError(
            f'Model {pointer.name} version {pointer.version} ("{pointer.bundle_path}") fails on its reference '
            f"texts: {type(exc).__name__}: {exc}. Keep the current version and fix the bundle."
        ) from exc
    problem = check_output(predictor, texts, output)
    if problem is not None:
        raise ServingError(
            f"Model {pointer.name} version {pointer.version} ({predictor.task}): {problem}. "
            "Refusing to serve it; check the bundle."
        )
    for _ in range(_WARMUP_ROUNDS):
        predict_output(predictor, texts[:1])
        predict_output(predictor, texts)
    return LoadedModel(pointer, predictor)


def check_output(predictor: Predictor, texts: list[str], output: TaskOutput) -> str | None:
    """What is wrong with a model's answer for ``texts`` (None: nothing), by the model's task.

    classification: probabilities of shape (n, n_labels), finite, rows summing to 1; multilabel: the same shape,
    each value in [0, 1]; entities: one span list per text, each span inside its text; embedding: a finite
    (n, dim) array.
    """
    task = predictor.task
    if task == "entities":
        spans: Spans = output  # type: ignore[assignment]
        if len(spans) != len(texts):
            return f"returned spans for {len(spans)} of {len(texts)} texts"
        for text, found in zip(texts, spans, strict=True):
            if any(not 0 <= s.start < s.end <= len(text) for s in found):
                return "returned spans outside their text"
        return None
    values = np.asarray(output)
    if task == "embedding":
        if values.ndim != 2 or len(values) != len(texts) or not np.all(np.isfinite(values)):
            return f"returned vectors of shape {values.shape} for {len(texts)} texts, or non-finite values"
        return None
    expected = (len(texts), len(predictor.labels))
    if values.shape != expected or not np.all(np.isfinite(values)):
        return f"returned probabilities of shape {values.shape} (expected {expected}) or non-finite values"
    if task == "multilabel":
        if not np.all((values >= -1e-6) & (values <= 1 + 1e-6)):
            return "returned probabilities outside [0, 1]"
        return None
    sums = values.sum(axis=1)
    if not all(math.isclose(float(v), 1.0, abs_tol=1e-3) for v in sums):
        return f"probability rows do not sum to 1 (got {float(sums.min()):.4f}..{float(sums.max()):.4f})"
    return None


def verification_texts(predictor: Predictor) -> list[str]:
    """Up to 32 of the bundle's reference texts (or one neutral sentence when it has none)."""
    raw = predictor.manifest.reference.get("texts") or []
    texts = [t for t in raw if isinstance(t, str) and t][:_VERIFY_TEXTS]
    return texts or ["hello, this is a test sentence"]


__all__ = [
    "LoadedModel",
    "ModelPointer",
    "ModelSource",
    "bundle_source",
    "check_output",
    "follows_alias",
    "load_model",
    "registry_source",
    "source_for_ref",
    "verification_texts",
]
