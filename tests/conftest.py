"""Shared fixtures: tiny real models and an isolated registry home per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlpops.bundle import Bundle
from nlpops.testing import tiny_tfidf_bundle


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own registry home and no stray NLPOPS_* settings from the environment."""
    import os

    for key in list(os.environ):
        if key.startswith("NLPOPS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NLPOPS_HOME", str(tmp_path / "nlpops-home"))


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A real TF-IDF bundle trained on a dozen sentences (read-only: copy it before changing it)."""
    return tiny_tfidf_bundle(tmp_path_factory.mktemp("tiny") / "bundle")
