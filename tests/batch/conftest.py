"""Fixtures for batch tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from batch_support import write_input_csv


@pytest.fixture
def make_input(tmp_path: Path) -> Callable[..., Path]:
    """Build an input CSV in the test's folder: ``make_input(n_rows, name="in.csv", empty_every=0)``."""

    def make(n_rows: int, name: str = "in.csv", empty_every: int = 0) -> Path:
        return write_input_csv(tmp_path / name, n_rows, empty_every=empty_every)

    return make
