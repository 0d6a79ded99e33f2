"""Choosing a registry backend from the ``registry`` section of the config."""

from __future__ import annotations

from nlpops.checklist import RegistrySettings
from nlpops.errors import ConfigError
from nlpops.registry.base import Registry
from nlpops.registry.sqlite import SqliteRegistry


def open_registry(settings: RegistrySettings) -> Registry:
    """Open the registry the settings describe.

    Args:
        settings: the ``registry`` section of the config (backend, home, mlflow_uri).

    Returns:
        A registry; for ``sqlite`` a :class:`SqliteRegistry` at ``settings.home`` (created on the first write).

    Raises:
        ConfigError: the backend is not available.
    """
    if settings.backend == "sqlite":
        return SqliteRegistry(settings.home)
    if settings.backend == "mlflow":
        raise ConfigError(
            'The "mlflow" registry backend is not available yet. Set registry.backend: sqlite in nlpops.yaml '
            "(or NLPOPS_REGISTRY__BACKEND=sqlite)."
        )
    raise ConfigError(f"Unknown registry backend {settings.backend!r}. Use registry.backend: sqlite in nlpops.yaml.")


__all__ = ["open_registry"]
