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
from nlpops.runtimes import Predictor, load_predictor

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
        ServingError: the loaded model's outputs are malformed (wrong shape, not probabilities).
    """
    predictor = load_predictor(pointer.bundle_path)
    if pointer.lang is not None:
        predictor = predictor.for_language(pointer.lang)
    texts = verification_texts(predictor)
    try:
        proba = np.asarray(predictor.predict_proba(texts))
    except NlpopsError:
        raise
    except Exception as exc:  # a runtime failing on its own reference texts: refuse the version
        raise RuntimeLoadError(
            f'Model {pointer.name} version {pointer.version} ("{pointer.bundle_path}") fails on its reference '
            f"texts: {type(exc).__name__}: {exc}. Keep the current version and fix the bundle."
        ) from exc
    expected = (len(texts), len(predictor.labels))
    if proba.shape != expected or not np.all(np.isfinite(proba)):
        raise ServingError(
            f"Model {pointer.name} version {pointer.version} returned probabilities of shape {proba.shape} "
            f"(expected {expected}) or non-finite values. Refusing to serve it; check the bundle."
        )
    sums = proba.sum(axis=1)
    if not all(math.isclose(float(s), 1.0, abs_tol=1e-3) for s in sums):
        raise ServingError(
            f"Model {pointer.name} version {pointer.version}: probability rows do not sum to 1 "
            f"(got {float(sums.min()):.4f}..{float(sums.max()):.4f}). Refusing to serve it."
        )
    for _ in range(_WARMUP_ROUNDS):
        predictor.predict_proba(texts[:1])
        predictor.predict_proba(texts)
    return LoadedModel(pointer, predictor)


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
    "follows_alias",
    "load_model",
    "registry_source",
    "source_for_ref",
    "verification_texts",
]
