"""Writing predictions and rejects as part files (CSV, JSONL, Parquet) and joining parts into one file.

A part is written to a temporary file, fsynced and renamed (see :mod:`nlpops.batch.atomic`), so a part
either exists whole or not at all. CSV parts have no header; :func:`join_parts` writes the header once.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.batch.atomic import atomic_path
from nlpops.errors import MissingExtraError

REJECT_COLUMNS = ("row", "id", "reason")
_COPY_BUFFER_BYTES = 1 << 20


@dataclass(frozen=True)
class OutputSchema:
    """The columns of a predictions file.

    Attributes:
        format: ``csv``, ``jsonl`` or ``parquet``.
        id_name: name of the id column (the input's id column, or ``row`` for row numbers).
        labels: the model's labels, in score order.
        all_scores: also write one score per label (``score_<label>`` columns; ``scores`` object in JSONL).
    """

    format: str
    id_name: str
    labels: tuple[str, ...]
    all_scores: bool

    @property
    def ids_are_rows(self) -> bool:
        """True when the id column holds row numbers (integers)."""
        return self.id_name == "row"

    def columns(self) -> list[str]:
        """Column names of a CSV or Parquet file."""
        extra = [f"score_{label}" for label in self.labels] if self.all_scores else []
        return [self.id_name, "label", "score", *extra]


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise MissingExtraError.for_extra("Writing Parquet files", "parquet", "pyarrow") from exc
    return pa, pq


def _csv_bytes(rows: Sequence[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def prediction_table(schema: OutputSchema, ids: Sequence[Any], proba: np.ndarray) -> Any:
    """A pyarrow table of predictions (used for Parquet parts and by the Ray engine)."""
    pa, _ = _pyarrow()
    best = proba.argmax(axis=1) if len(ids) else np.zeros(0, dtype=np.int64)
    labels = np.asarray(schema.labels, dtype=object)
    columns: dict[str, Any] = {
        schema.id_name: pa.array(list(ids), type=pa.int64() if schema.ids_are_rows else pa.string()),
        "label": pa.array(labels[best].tolist() if len(ids) else [], type=pa.string()),
        "score": pa.array(proba[np.arange(len(ids)), best] if len(ids) else [], type=pa.float64()),
    }
    if schema.all_scores:
        for index, label in enumerate(schema.labels):
            columns[f"score_{label}"] = pa.array(proba[:, index] if len(ids) else [], type=pa.float64())
    return pa.table(columns)


def write_predictions(path: Path, schema: OutputSchema, ids: Sequence[Any], proba: np.ndarray) -> None:
    """Write one part of predictions atomically.

    Args:
        path: the part file.
        schema: what to write.
        ids: one id per row (row numbers or id strings).
        proba: scores of shape (len(ids), len(schema.labels)).

    Raises:
        OSError: the part could not be written.
        MissingExtraError: Parquet output without pyarrow.
    """
    if schema.format == "parquet":
        _, pq = _pyarrow()
        with atomic_path(path) as tmp:
            pq.write_table(prediction_table(schema, ids, proba), tmp)
        return
    best = proba.argmax(axis=1).tolist() if len(ids) else []
    top = proba[np.arange(len(ids)), best].tolist() if len(ids) else []
    labels = [schema.labels[i] for i in best]
    if schema.format == "csv":
        if schema.all_scores:
            rows: list[Sequence[Any]] = [
                [ident, label, score, *scores]
                for ident, label, score, scores in zip(ids, labels, top, proba.tolist(), strict=True)
            ]
        else:
            rows = list(zip(ids, labels, top, strict=True))
        data = _csv_bytes(rows)
    else:
        import orjson

        names = schema.labels
        lines = []
        for row_index, (ident, label, score) in enumerate(zip(ids, labels, top, strict=True)):
            record: dict[str, Any] = {schema.id_name: ident, "label": label, "score": score}
            if schema.all_scores:
                record["scores"] = dict(zip(names, proba[row_index].tolist(), strict=True))
            lines.append(orjson.dumps(record))
        data = b"\n".join(lines) + b"\n" if lines else b""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _rejects_table(rejects: Sequence[tuple[int, str | None, str]]) -> Any:
    pa, _ = _pyarrow()
    return pa.table(
        {
            "row": pa.array([r[0] for r in rejects], type=pa.int64()),
            "id": pa.array([r[1] for r in rejects], type=pa.string()),
            "reason": pa.array([r[2] for r in rejects], type=pa.string()),
        }
    )


def write_rejects(path: Path, fmt: str, rejects: Sequence[tuple[int, str | None, str]]) -> None:
    """Write one part of rejected rows ``(row, id, reason)`` atomically.

    Raises:
        OSError: the part could not be written.
    """
    if fmt == "parquet":
        _, pq = _pyarrow()
        with atomic_path(path) as tmp:
            pq.write_table(_rejects_table(rejects), tmp)
        return
    if fmt == "csv":
        data = _csv_bytes([(row, "" if ident is None else ident, reason) for row, ident, reason in rejects])
    else:
        import orjson

        data = b"".join(orjson.dumps(dict(zip(REJECT_COLUMNS, r, strict=True))) + b"\n" for r in rejects)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def join_parts(out: Path, fmt: str, columns: Sequence[str], parts: Sequence[Path], empty_table: Any = None) -> None:
    """Concatenate part files, in order, into ``out`` atomically (streaming: memory stays bounded).

    Args:
        out: the final file.
        fmt: ``csv``, ``jsonl`` or ``parquet``.
        columns: the CSV header.
        parts: existing part files in output order.
        empty_table: for Parquet, a table with the right schema, written when there are no parts.

    Raises:
        OSError: a part is missing or the output cannot be written.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        _, pq = _pyarrow()
        with atomic_path(out) as tmp:
            schema = pq.read_schema(parts[0]) if parts else empty_table.schema
            with pq.ParquetWriter(tmp, schema) as writer:
                if not parts:
                    writer.write_table(empty_table)
                for part in parts:
                    parquet = pq.ParquetFile(part)
                    for group in range(parquet.num_row_groups):
                        writer.write_table(parquet.read_row_group(group))
        return
    with atomic_path(out) as tmp, tmp.open("wb") as target:
        if fmt == "csv":
            target.write(_csv_bytes([list(columns)]))
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, target, _COPY_BUFFER_BYTES)


def empty_predictions(schema: OutputSchema) -> Any:
    """An empty predictions table with the right Parquet schema."""
    return prediction_table(schema, [], np.zeros((0, len(schema.labels))))


def empty_rejects() -> Any:
    """An empty rejects table with the right Parquet schema."""
    return _rejects_table([])


__all__ = [
    "REJECT_COLUMNS",
    "OutputSchema",
    "empty_predictions",
    "empty_rejects",
    "join_parts",
    "prediction_table",
    "write_predictions",
    "write_rejects",
]
