"""Helpers for batch tests: real inputs built from the bundled datasets, and the CLI as a subprocess."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from nlpops.data import bundled_dataset


def cli_command(*args: str) -> list[str]:
    """The argv that runs ``nlpops <args>`` in a fresh interpreter."""
    return [sys.executable, "-m", "nlpops", *args]


def banking_texts() -> list[str]:
    """The real banking77 training texts."""
    with bundled_dataset("banking77", "train").open(newline="", encoding="utf-8") as fh:
        return [row["text"] for row in csv.DictReader(fh)]


def write_input_csv(path: Path, n_rows: int, *, empty_every: int = 0) -> Path:
    """A CSV (id,text) of ``n_rows`` banking77 texts repeated; every ``empty_every``-th text is empty."""
    texts = banking_texts()
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        for i in range(n_rows):
            empty = empty_every and i % empty_every == empty_every - 1
            writer.writerow([f"id-{i}", "" if empty else texts[i % len(texts)]])
    return path


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """All rows of a CSV file as dicts."""
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
