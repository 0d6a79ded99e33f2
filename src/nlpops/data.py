"""Reading labelled text datasets (CSV, JSONL, Parquet), deterministic splits and fingerprints."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpops.errors import DataError, MissingExtraError

DATASETS_DIR = Path(__file__).parent / "datasets"
FORMATS = ("csv", "jsonl", "parquet")


@dataclass(frozen=True)
class Dataset:
    """Texts with labels (and optionally languages and ids), read from ``source``."""

    texts: list[str]
    labels: list[str]
    langs: list[str] | None = None
    source: str = "<memory>"
    ids: list[str] | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> Dataset:
        """The rows at ``indices``, in that order."""
        return Dataset(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices] if self.labels else [],  # texts-only data has no labels
            langs=None if self.langs is None else [self.langs[i] for i in indices],
            source=self.source,
            ids=None if self.ids is None else [self.ids[i] for i in indices],
        )

    def concat(self, other: Dataset) -> Dataset:
        """This dataset followed by ``other`` (languages kept only if both have them)."""
        langs = self.langs + other.langs if self.langs is not None and other.langs is not None else None
        return Dataset(self.texts + other.texts, self.labels + other.labels, langs, f"{self.source}+{other.source}")


def detect_format(path: Path) -> str:
    """``csv``, ``jsonl`` or ``parquet`` from the file suffix."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("csv", "tsv"):
        return "csv"
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if suffix in ("parquet", "pq"):
        return "parquet"
    raise DataError(f'"{path}": unknown file type ".{suffix}". Use a .csv, .jsonl or .parquet file.')


def iter_records(path: Path | str) -> Iterator[dict[str, Any]]:
    """Stream the rows of a CSV, JSONL or Parquet file as dicts (memory bounded).

    Raises:
        DataError: missing file, not UTF-8, malformed JSON line, unreadable Parquet.
    """
    path = Path(path)
    if not path.is_file():
        hint = " It is a directory." if path.is_dir() else ""
        raise DataError(f'Data file "{path}" does not exist.{hint} Check the path.')
    fmt = detect_format(path)
    try:
        if fmt == "csv":
            yield from _iter_csv(path)
        elif fmt == "jsonl":
            yield from _iter_jsonl(path)
        else:
            yield from _iter_parquet(path)
    except UnicodeDecodeError as exc:
        raise DataError(f'"{path}" is not valid UTF-8 ({_first_bad_line(path)}). Re-save the file as UTF-8.') from exc


def _first_bad_line(path: Path) -> str:
    """Where the first non-UTF-8 byte of ``path`` is, for the error message."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"line {number}, byte 0x{raw[exc.start]:02x} at column {exc.start + 1}"
    return "invalid byte sequence"


def _iter_csv(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as fh:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        reader = csv.DictReader(fh, delimiter=delimiter)
        try:
            yield from reader
        except csv.Error as exc:
            raise DataError(f'"{path}" line {reader.line_num}: malformed CSV ({exc}).') from exc


def _iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f'"{path}" line {number}: not valid JSON ({exc.msg}). One JSON object per line.'
                ) from exc
            if not isinstance(record, dict):
                raise DataError(f'"{path}" line {number}: expected a JSON object, got {type(record).__name__}.')
            yield record


def _iter_parquet(path: Path) -> Iterator[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingExtraError.for_extra("Reading Parquet files", "parquet", "pyarrow") from exc
    try:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=8192):
            yield from batch.to_pylist()
    except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        raise DataError(f'"{path}" is not a readable Parquet file: {exc}') from exc


def read_dataset(
    path: Path | str,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    lang_column: str | None = "lang",
    id_column: str | None = None,
) -> Dataset:
    """Read a labelled dataset. ``lang_column`` is used only if present; ``label_column=None`` reads texts only.

    Raises:
        DataError: missing file or column, empty file, non-UTF-8 bytes, empty label, non-text value.
    """
    path = Path(path)
    texts: list[str] = []
    labels: list[str] = []
    langs: list[str] = []
    ids: list[str] = []
    columns: list[str] | None = None
    has_lang = False
    for number, record in enumerate(iter_records(path), start=1):
        if columns is None:
            columns = list(record)
            required = [c for c in (text_column, label_column, id_column) if c]
            missing = [c for c in required if c not in record]
            if missing:
                raise DataError(
                    f'"{path}" has no column "{missing[0]}" (columns: {", ".join(columns)}). '
                    "Set data.text_column / data.label_column in nlpops.yaml or pass --text-column/--label-column."
                )
            has_lang = bool(lang_column) and lang_column in record
        texts.append(_as_text(record.get(text_column), path, number, text_column))
        if label_column:
            label = record.get(label_column)
            label = "" if label is None else str(label).strip()
            if not label:
                raise DataError(
                    f'"{path}" row {number}: empty value in label column "{label_column}". Label every row.'
                )
            labels.append(label)
        if has_lang and lang_column:
            langs.append(str(record.get(lang_column) or "und").strip() or "und")
        if id_column:
            ids.append(str(record.get(id_column)))
    if not texts:
        raise DataError(f'"{path}" is empty: it has no data rows. Provide a file with a header and at least 2 rows.')
    return Dataset(texts, labels, langs if has_lang else None, str(path), ids if id_column else None)


def _as_text(value: Any, path: Path, number: int, column: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise DataError(f'"{path}" row {number}: column "{column}" holds a {type(value).__name__}, not text.')


def check_trainable(dataset: Dataset) -> None:
    """Refuse a dataset that cannot train a classifier: one label only, or a label with fewer than 2 rows."""
    counts = Counter(dataset.labels)
    if len(counts) < 2:
        only = next(iter(counts), "<none>")
        raise DataError(
            f'"{dataset.source}" has a single label ("{only}"); a classifier needs at least 2 labels. '
            "Check the label column."
        )
    rare = sorted(label for label, n in counts.items() if n < 2)
    if rare:
        shown = ", ".join(f'"{x}"' for x in rare[:5]) + (f" and {len(rare) - 5} more" if len(rare) > 5 else "")
        raise DataError(
            f'"{dataset.source}": label {shown} has fewer than 2 examples. '
            "Add examples or remove those rows (each label needs at least 2)."
        )


def split_dataset(dataset: Dataset, test_size: float = 0.2, seed: int = 42) -> tuple[Dataset, Dataset]:
    """Deterministic stratified split into (train, test).

    Raises:
        DataError: some label is too rare to appear on both sides.
    """
    check_trainable(dataset)
    from sklearn.model_selection import train_test_split

    indices = list(range(len(dataset)))
    try:
        train_idx, test_idx = train_test_split(indices, test_size=test_size, random_state=seed, stratify=dataset.labels)
    except ValueError as exc:
        raise DataError(
            f'"{dataset.source}" cannot be split with test_size={test_size}: {exc}. '
            "Pass a separate --test file or change data.test_size."
        ) from exc
    return dataset.subset(sorted(train_idx)), dataset.subset(sorted(test_idx))


def fingerprint(dataset: Dataset) -> dict[str, Any]:
    """Content hash, row count, label counts and language counts of a dataset."""
    digest = hashlib.sha256()
    langs: Iterable[str] = dataset.langs if dataset.langs is not None else [""] * len(dataset)
    for text, label, lang in zip(dataset.texts, dataset.labels or [""] * len(dataset), langs, strict=True):
        digest.update(json.dumps([text, label, lang], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return {
        "sha256": digest.hexdigest(),
        "rows": len(dataset),
        "label_counts": dict(sorted(Counter(dataset.labels).items())),
        "languages": dict(sorted(Counter(dataset.langs).items())) if dataset.langs is not None else {},
    }


def bundled_dataset(name: str, split: str = "train") -> Path:
    """Path of a dataset shipped with nlpops (banking77, sms_spam, sib200, xed_emotion)."""
    path = DATASETS_DIR / name / f"{split}.csv"
    if not path.is_file():
        known = sorted(p.name for p in DATASETS_DIR.iterdir() if p.is_dir())
        raise DataError(f'No bundled dataset "{name}" with split "{split}" (known: {", ".join(known)}).')
    return path


__all__ = [
    "DATASETS_DIR",
    "FORMATS",
    "Dataset",
    "bundled_dataset",
    "check_trainable",
    "detect_format",
    "fingerprint",
    "iter_records",
    "read_dataset",
    "split_dataset",
]
