"""Fixtures for the registry tests: tiny real bundles written with nlpops.bundle.save_bundle."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nlpops.bundle import save_bundle

MakeBundle = Callable[..., Path]


def write_tiny_bundle(
    out: Path, name: str = "intent", version: str = "v1", metrics: dict[str, Any] | None = None
) -> Path:
    """Write a small real bundle (a manifest plus two files) at ``out``."""

    def write_files(folder: Path) -> None:
        (folder / "weights.txt").write_text(f"{name} {version}\n", encoding="utf-8")
        (folder / "vocab").mkdir()
        (folder / "vocab" / "words.txt").write_text("hello\nworld\n", encoding="utf-8")

    fields = {
        "name": name,
        "version": version,
        "family": "tfidf",
        "runtime": "sklearn",
        "labels": ["greet", "bye"],
        "metrics": metrics if metrics is not None else {"macro_f1": 0.5},
    }
    save_bundle(out, fields, write_files)
    return out


@pytest.fixture
def make_bundle(tmp_path: Path) -> MakeBundle:
    """Factory: ``make_bundle(name=..., version=..., metrics=...)`` writes a new bundle under tmp_path."""
    counter = itertools.count(1)

    def make(name: str = "intent", version: str | None = None, metrics: dict[str, Any] | None = None) -> Path:
        n = next(counter)
        return write_tiny_bundle(tmp_path / "bundles" / f"b{n}", name, version or f"v{n}", metrics)

    return make


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A registry home that does not exist yet."""
    return tmp_path / "home" / ".nlpops"
