"""Choosing a registry backend from the ``registry`` section of the config, and resolving a model reference
to its bundle with it: :func:`resolve_bundle` is the one place every command and service does that."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from nlpops.checklist import RegistrySettings
from nlpops.errors import ConfigError
from nlpops.registry.base import ModelVersion, Registry
from nlpops.registry.mlflow import MlflowRegistry
from nlpops.registry.refs import ModelRef, parse_ref, resolve_ref
from nlpops.registry.sqlite import SqliteRegistry


def open_registry(settings: RegistrySettings) -> Registry:
    """Open the registry the settings describe.

    Args:
        settings: the ``registry`` section of the config (backend, home, mlflow_uri).

    Returns:
        A registry: for ``sqlite`` a :class:`SqliteRegistry` at ``settings.home`` (created on the first write);
        for ``mlflow`` an :class:`MlflowRegistry` on ``settings.mlflow_uri`` (else the ``MLFLOW_TRACKING_URI``
        environment variable), caching downloaded bundles under ``settings.home``.

    Raises:
        ConfigError: the backend is unknown, the MLflow backend has no tracking URI, or mlflow is not installed.
    """
    if settings.backend == "sqlite":
        return SqliteRegistry(settings.home)
    if settings.backend == "mlflow":
        uri = settings.mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            raise ConfigError(
                'The "mlflow" registry backend needs the tracking server\'s URI. Set registry.mlflow_uri in '
                "nlpops.yaml (or NLPOPS_REGISTRY__MLFLOW_URI, or MLFLOW_TRACKING_URI), "
                "e.g. http://mlflow.internal:5000."
            )
        return MlflowRegistry(uri, settings.home)
    raise ConfigError(
        f"Unknown registry backend {settings.backend!r}. Use registry.backend: sqlite or mlflow in nlpops.yaml."
    )


@dataclass(frozen=True)
class ResolvedBundle:
    """Where a model reference points now.

    Attributes:
        ref: the parsed reference.
        path: the bundle directory.
        entry: the registry entry (None for a bundle path).
        registry: the registry the entry came from (None for a bundle path).
    """

    ref: ModelRef
    path: Path
    entry: ModelVersion | None = None
    registry: Registry | None = None

    def refresh(self) -> ResolvedBundle:
        """Resolve the reference again: an alias may have moved (a path or a pinned version stays put).

        Raises:
            NotFoundError: the model, alias or version is gone.
        """
        if self.registry is None or self.ref.kind != "alias":
            return self
        path, entry = resolve_ref(self.ref, self.registry)
        return replace(self, path=path, entry=entry)


def resolve_bundle(ref: str | Path | ModelRef, settings: RegistrySettings) -> ResolvedBundle:
    """The bundle a model reference designates: a path as is, a registry reference in the configured registry.

    The registry is opened only for a registry reference (``NAME``, ``NAME@ALIAS``, ``NAME:VERSION``).

    Args:
        ref: what the user typed (or an already parsed reference).
        settings: the ``registry`` section of the config.

    Returns:
        The bundle directory, and the registry entry and registry for a registry reference.

    Raises:
        RegistryError: the reference is malformed.
        NotFoundError: the bundle path does not exist, or the model, alias or version is unknown.
        ConfigError: the registry backend cannot be opened.
    """
    parsed = ref if isinstance(ref, ModelRef) else parse_ref(str(ref))
    registry = None if parsed.kind == "path" else open_registry(settings)
    path, entry = resolve_ref(parsed, registry)
    return ResolvedBundle(parsed, Path(path), entry, registry)


__all__ = ["ResolvedBundle", "open_registry", "resolve_bundle"]
