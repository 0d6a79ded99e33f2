"""Writing predictions and rejects as part files (CSV, JSONL, Parquet) and joining parts into one file.

A part is written to a temporary file, fsynced and renamed (see :mod:`nlpops.batch.atomic`), so a part
either exists whole or not at all. CSV parts have no header; :func:`join_parts` writes the header once.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.batch.atomic import atomic_path
from nlpops.batch.options import BatchOptions
from nlpops.bundle import BundleManifest
from nlpops.data import detect_format
from nlpops.errors import MissingExtraError
from nlpops.tasks import TASKS, Spans, TaskName, TaskOutput, label_decisions

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
        task: the model's task; it decides the columns after the id (``TASKS[task].batch_columns``).
        thresholds: the per-label thresholds of a multilabel model.
        dim: the vector size of an embedding model (0: unknown, a variable-size list in Parquet).
    """

    format: str
    id_name: str
    labels: tuple[str, ...]
    all_scores: bool
    task: TaskName = "classification"
    thresholds: tuple[float, ...] | None = None
    dim: int = 0

    @property
    def ids_are_rows(self) -> bool:
        """True when the id column holds row numbers (integers)."""
        return self.id_name == "row"

    @property
    def label_scores(self) -> bool:
        """Whether ``score_<label>`` columns are written (``all_scores`` for a classifier or multilabel model)."""
        return self.all_scores and self.task in ("classification", "multilabel")

    def columns(self) -> list[str]:
        """Column names of a CSV or Parquet file."""
        extra = [f"score_{label}" for label in self.labels] if self.label_scores else []
        return [self.id_name, *TASKS[self.task].batch_columns, *extra]


def output_schema(manifest: BundleManifest, options: BatchOptions) -> OutputSchema:
    """The predictions file's columns for a model (its task, labels, thresholds) and a run's options."""
    thresholds = (
        tuple(manifest.thresholds[label] for label in manifest.labels) if manifest.task == "multilabel" else None
    )
    return OutputSchema(
        format=detect_format(options.output_path),
        id_name=options.id_column or "row",
        labels=tuple(manifest.labels),
        all_scores=options.all_scores,
        task=manifest.task,
        thresholds=thresholds,
        dim=int(manifest.runtime_options.get("dim", 0)) if manifest.task == "embedding" else 0,
    )


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


Columns = dict[str, list[Any] | np.ndarray]
"""Column name -> one value per row: Python values (lists and objects for the non-scalar columns), or a 2-D
float32 array with one row per row (vectors)."""


def _classification(schema: OutputSchema, output: TaskOutput, texts: Sequence[str] | None) -> Columns:
    proba = np.asarray(output)
    best = proba.argmax(axis=1) if len(proba) else np.zeros(0, dtype=np.int64)
    labels = np.asarray(schema.labels, dtype=object)
    return {
        "label": labels[best].tolist() if len(proba) else [],
        "score": proba[np.arange(len(proba)), best].tolist() if len(proba) else [],
    }


def _multilabel(schema: OutputSchema, output: TaskOutput, texts: Sequence[str] | None) -> Columns:
    proba = np.asarray(output)
    chosen = label_decisions(proba, schema.thresholds or [0.5] * len(schema.labels))
    names: list[list[str]] = []
    scores: list[list[float]] = []
    for row, mask in enumerate(chosen):
        columns = sorted(np.flatnonzero(mask).tolist(), key=lambda i: -proba[row, i])
        names.append([schema.labels[i] for i in columns])
        scores.append([float(proba[row, i]) for i in columns])
    return {"labels": names, "scores": scores}


def _entities(schema: OutputSchema, output: TaskOutput, texts: Sequence[str] | None) -> Columns:
    import orjson

    spans: Spans = output  # type: ignore[assignment]
    values = []
    for row, found in enumerate(spans):
        text = texts[row] if texts is not None else None
        items = [
            {
                "start": s.start,
                "end": s.end,
                "label": s.label,
                "text": s.text_of(text) if text else None,
                "score": s.score,
            }
            for s in found
        ]
        values.append(orjson.dumps(items).decode())
    return {"entities": values}


def _embedding(schema: OutputSchema, output: TaskOutput, texts: Sequence[str] | None) -> Columns:
    return {"vector": np.asarray(output, dtype=np.float32)}


TASK_COLUMNS: dict[TaskName, Callable[[OutputSchema, TaskOutput, Sequence[str] | None], Columns]] = {
    "classification": _classification,
    "multilabel": _multilabel,
    "entities": _entities,
    "embedding": _embedding,
}
"""The batch layer's per-task piece: a task's answer as the values of its ``batch_columns``. Entity spans are
written as a JSON string per row (every format); label lists and vectors as lists (JSON in CSV); vectors are a
fixed-size list column in Parquet (``dim`` float32 values)."""


def _parquet_types(schema: OutputSchema) -> dict[str, Any]:
    pa, _ = _pyarrow()
    types = {
        "label": pa.string(),
        "score": pa.float64(),
        "labels": pa.list_(pa.string()),
        "scores": pa.list_(pa.float64()),
        "entities": pa.string(),
        "vector": pa.list_(pa.float32(), schema.dim) if schema.dim else pa.list_(pa.float32()),
    }
    return {name: types[name] for name in TASKS[schema.task].batch_columns}


def _score_columns(schema: OutputSchema, output: TaskOutput) -> list[np.ndarray]:
    if not schema.label_scores:
        return []
    proba = np.asarray(output)
    return [proba[:, index] if len(proba) else np.zeros(0) for index in range(len(schema.labels))]


def prediction_table(
    schema: OutputSchema, ids: Sequence[Any], output: TaskOutput, texts: Sequence[str] | None = None
) -> Any:
    """A pyarrow table of predictions (used for Parquet parts and by the Ray engine)."""
    pa, _ = _pyarrow()
    values = TASK_COLUMNS[schema.task](schema, output, texts)
    columns: dict[str, Any] = {
        schema.id_name: pa.array(list(ids), type=pa.int64() if schema.ids_are_rows else pa.string())
    }
    for name, kind in _parquet_types(schema).items():
        value = values[name]
        if isinstance(value, np.ndarray) and schema.dim:  # vectors: one flat float32 buffer, no Python floats
            columns[name] = pa.FixedSizeListArray.from_arrays(pa.array(value.ravel(), type=pa.float32()), schema.dim)
        else:
            columns[name] = pa.array(value.tolist() if isinstance(value, np.ndarray) else value, type=kind)
    for label, scores in zip(schema.labels, _score_columns(schema, output), strict=False):
        columns[f"score_{label}"] = pa.array(scores, type=pa.float64())
    return pa.table(columns)


def write_predictions(
    path: Path, schema: OutputSchema, ids: Sequence[Any], output: TaskOutput, texts: Sequence[str] | None = None
) -> None:
    """Write one part of predictions atomically.

    Args:
        path: the part file.
        schema: what to write.
        ids: one id per row (row numbers or id strings).
        output: the model's answer for the rows (probabilities ``(len(ids), len(schema.labels))``, spans,
            vectors).
        texts: the rows' texts (entity spans carry the text they cover).

    Raises:
        OSError: the part could not be written.
        MissingExtraError: Parquet output without pyarrow.
    """
    if schema.format == "parquet":
        _, pq = _pyarrow()
        with atomic_path(path) as tmp:
            pq.write_table(prediction_table(schema, ids, output, texts), tmp)
        return
    values = TASK_COLUMNS[schema.task](schema, output, texts)
    names = TASKS[schema.task].batch_columns
    scores = [column.tolist() for column in _score_columns(schema, output)]
    if schema.format == "csv":
        rows: list[Sequence[Any]] = []
        for row, ident in enumerate(ids):
            cells = [_csv_cell(values[name][row]) for name in names]
            rows.append([ident, *cells, *(column[row] for column in scores)])
        data = _csv_bytes(rows)
    else:
        import orjson

        lines = []
        for row, ident in enumerate(ids):
            record: dict[str, Any] = {schema.id_name: ident}
            for name in names:
                value = values[name][row]
                record[name] = orjson.Fragment(value.encode()) if name == "entities" else value
            if scores:
                record["scores"] = {label: column[row] for label, column in zip(schema.labels, scores, strict=True)}
            lines.append(orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY))
        data = b"\n".join(lines) + b"\n" if lines else b""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list | dict | np.ndarray):  # a vector: float32 numbers in their shortest exact form
        import orjson

        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    return value


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
    empty: TaskOutput = [] if schema.task == "entities" else np.zeros((0, max(len(schema.labels), schema.dim)))
    return prediction_table(schema, [], empty, [])


def empty_rejects() -> Any:
    """An empty rejects table with the right Parquet schema."""
    return _rejects_table([])


__all__ = [
    "REJECT_COLUMNS",
    "TASK_COLUMNS",
    "Columns",
    "OutputSchema",
    "empty_predictions",
    "empty_rejects",
    "join_parts",
    "output_schema",
    "prediction_table",
    "write_predictions",
    "write_rejects",
]
