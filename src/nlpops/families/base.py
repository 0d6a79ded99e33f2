"""What a model family produces: a trained model that can predict in memory and write its runtime files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class TrainedModel(Protocol):
    """A freshly trained model, before it becomes a bundle.

    ``predict_proba`` takes texts that were already preprocessed with the bundle's steps.
    """

    family: str
    runtime: str
    labels: list[str]
    requirements: list[str]
    runtime_options: dict[str, Any]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...

    def save(self, directory: Path) -> None: ...


def package_versions(*names: str) -> list[str]:
    """``["name==version", ...]`` for installed distributions (skipping ones that are not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return pins


__all__ = ["TrainedModel", "package_versions"]
