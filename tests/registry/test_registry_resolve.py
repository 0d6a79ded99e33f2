"""resolve_bundle: the one place a model reference becomes a bundle (paths without a registry, refs with one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlpops.checklist import RegistrySettings
from nlpops.errors import ConfigError, NotFoundError
from nlpops.registry import SqliteRegistry, parse_ref, resolve_bundle


def test_resolve_bundle_path_opens_no_registry(make_bundle) -> None:
    bundle = make_bundle()
    unusable = RegistrySettings(backend="mlflow")  # no tracking URI: opening it would be a ConfigError
    resolved = resolve_bundle(str(bundle), unusable)
    assert (resolved.path, resolved.entry, resolved.registry) == (bundle, None, None)
    assert resolved.refresh() is resolved
    with pytest.raises(ConfigError, match="tracking server"):
        resolve_bundle("intent@production", unusable)


def test_resolve_bundle_registry_refs_and_refresh(tmp_path: Path, make_bundle) -> None:
    home = tmp_path / ".nlpops"
    registry = SqliteRegistry(home)
    first = registry.register(make_bundle())
    second = registry.register(make_bundle())
    registry.promote("intent", first.version)
    settings = RegistrySettings(home=home)
    alias = resolve_bundle("intent", settings)
    pinned = resolve_bundle(parse_ref("intent:1"), settings)
    assert (alias.path, alias.entry) == (first.bundle_path, first)
    assert (pinned.path, pinned.entry) == (first.bundle_path, first)
    registry.promote("intent", second.version)
    assert (alias.refresh().path, alias.refresh().entry) == (second.bundle_path, second)  # the alias moved
    assert pinned.refresh().entry == first  # a pinned version does not
    with pytest.raises(NotFoundError, match="does not exist"):
        resolve_bundle(str(tmp_path / "missing"), settings)
