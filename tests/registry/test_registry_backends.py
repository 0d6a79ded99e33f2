"""open_registry: choosing the backend from RegistrySettings."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlpops.checklist import RegistrySettings
from nlpops.errors import ConfigError
from nlpops.registry import Registry, SqliteRegistry, open_registry


def test_open_registry_sqlite(tmp_path: Path, make_bundle) -> None:
    reg = open_registry(RegistrySettings(backend="sqlite", home=tmp_path / "h"))
    assert isinstance(reg, SqliteRegistry)
    assert isinstance(reg, Registry)
    reg.register(make_bundle())
    assert (tmp_path / "h" / "registry.db").is_file()


def test_open_registry_mlflow_needs_a_tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = RegistrySettings(backend="mlflow", home=tmp_path)
    with pytest.raises(ConfigError, match=r"registry\.mlflow_uri in nlpops\.yaml.*MLFLOW_TRACKING_URI"):
        open_registry(settings)
    assert list(tmp_path.iterdir()) == []
