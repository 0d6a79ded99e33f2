"""Choosing a registry backend from the ``registry`` section of the config."""

from __future__ import annotations

import os

from nlpops.checklist import RegistrySettings
from nlpops.errors import ConfigError
from nlpops.registry.base import Registry
from nlpops.registry.mlflow import MlflowRegistry
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


__all__ = ["open_registry"]
