"""The model registry: named models, immutable numbered versions, movable aliases, an append-only event log.

``open_registry(config.registry)`` gives the configured backend; the default, :class:`SqliteRegistry`,
keeps a SQLite database and verified bundle copies under ``.nlpops/``; :class:`MlflowRegistry` keeps the same
things on an MLflow tracking server (extra ``mlflow``). ``resolve_bundle(ref, config.registry)`` turns what
users type (``./bundle``, ``intent``, ``intent@staging``, ``intent:3``) into a bundle directory (and its registry
entry): the one place every command, the Python API and the service resolve a reference.
"""

from __future__ import annotations

from nlpops.registry.backends import ResolvedBundle, open_registry, resolve_bundle
from nlpops.registry.base import (
    ACTIONS,
    DEFAULT_ALIAS,
    Action,
    ModelVersion,
    Registry,
    RegistryEvent,
    check_alias,
    check_model_name,
)
from nlpops.registry.mlflow import MlflowRegistry
from nlpops.registry.refs import ModelRef, RefKind, parse_ref, resolve_ref
from nlpops.registry.sqlite import SqliteRegistry, current_user

__all__ = [
    "ACTIONS",
    "DEFAULT_ALIAS",
    "Action",
    "MlflowRegistry",
    "ModelRef",
    "ModelVersion",
    "RefKind",
    "Registry",
    "RegistryEvent",
    "ResolvedBundle",
    "SqliteRegistry",
    "check_alias",
    "check_model_name",
    "current_user",
    "open_registry",
    "parse_ref",
    "resolve_bundle",
    "resolve_ref",
]
