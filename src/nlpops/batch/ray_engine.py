"""The Ray engine: the same job on Ray Data, for inputs that outgrow one machine.

The input is read by Ray Data (CSV text and id columns as raw bytes, so undecodable rows are rejected
one by one), each block goes through ``map_batches`` with :class:`RayPredictor` (a callable class: each
actor loads the Predictor once), and the driver receives the blocks in input order, numbers the rows,
and writes predictions and rejects as parts that are joined into the output files as in the local
engine. A Ray run is not checkpointed: run it again (or use the local engine) after an interruption.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.batch.options import BatchOptions, BatchResult
from nlpops.batch.records import check_id, check_text
from nlpops.batch.writers import (
    OutputSchema,
    empty_predictions,
    empty_rejects,
    join_parts,
    output_schema,
    write_predictions,
)
from nlpops.batch.writers import write_rejects as _write_rejects
from nlpops.bundle import load_bundle
from nlpops.data import detect_format
from nlpops.errors import ConfigError, DataError, MissingExtraError, NlpopsError
from nlpops.runtimes import load_predictor, predict_output
from nlpops.tasks import TaskName

RAY_TASKS: tuple[TaskName, ...] = ("classification", "multilabel")
"""The tasks whose predictions the Ray engine writes (their answers are probability rows)."""


class RayPredictor:
    """Callable class for ``Dataset.map_batches``: checks each row, predicts the good ones.

    Args:
        bundle_dir: the bundle to load (once per actor).
        text_column: input column holding the text.
        id_column: input column holding ids, or None.

    Returns (when called): columns ``ok`` (bool), ``reason`` (str, "" when ok), ``id`` (str, "" without
    an id column) and ``proba`` (n, n_labels; zeros for rejected rows).
    """

    def __init__(self, bundle_dir: str, text_column: str, id_column: str | None) -> None:
        self.predictor = load_predictor(bundle_dir)
        self.text_column = text_column
        self.id_column = id_column

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = batch[self.text_column]
        ids = batch[self.id_column] if self.id_column is not None else [None] * len(texts)
        ok = np.zeros(len(texts), dtype=bool)
        reasons: list[str] = []
        idents: list[str] = []
        good: list[str] = []
        for row, (text_value, id_value) in enumerate(zip(texts, ids, strict=True)):
            ident, reason = check_id(id_value, self.id_column) if self.id_column is not None else ("", None)
            text = None
            if reason is None:
                text, reason = check_text(text_value, self.text_column)
            idents.append(ident or "")
            reasons.append(reason or "")
            if text is not None:
                ok[row] = True
                good.append(text)
        proba = np.zeros((len(texts), len(self.predictor.labels)), dtype=np.float64)
        if good:
            proba[ok] = np.asarray(predict_output(self.predictor, good))
        return {
            "ok": ok,
            "reason": np.array(reasons, dtype=object),
            "id": np.array(idents, dtype=object),
            "proba": proba,
        }


def _import_ray() -> Any:
    # Nothing leaves the machine unless the user configures it: no Ray usage statistics.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise MissingExtraError.for_extra("The Ray engine (--engine ray)", "ray", "ray[data]") from exc
    return ray


def _read(ray: Any, options: BatchOptions) -> Any:
    path = str(options.input_path.resolve())
    fmt = detect_format(options.input_path)
    columns = [options.text_column] + ([options.id_column] if options.id_column else [])
    if fmt == "csv":
        import pyarrow as pa
        import pyarrow.csv as pacsv

        types = {c: pa.binary() for c in columns}
        parse = pacsv.ParseOptions(delimiter="\t" if path.lower().endswith(".tsv") else ",")
        convert = pacsv.ConvertOptions(column_types=types, include_columns=columns)
        return ray.data.read_csv(path, parse_options=parse, convert_options=convert)
    if fmt == "jsonl":
        return ray.data.read_json(path, lines=True)
    return ray.data.read_parquet(path, columns=columns)


def _stream(
    ray: Any, bundle_dir: Path, options: BatchOptions, schema: OutputSchema, replicas: int
) -> tuple[int, int, int]:
    """Run the Ray Data pipeline; write the blocks, in input order, as parts; join them. Returns the counts."""
    state_dir = options.state_dir
    rejects_format = detect_format(options.rejects_file)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # Ray Data logs every stage at INFO
    ds = _read(ray, options).map_batches(
        RayPredictor,
        fn_constructor_kwargs={
            "bundle_dir": str(bundle_dir.resolve()),
            "text_column": options.text_column,
            "id_column": options.id_column,
        },
        batch_size=options.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=replicas),
        num_cpus=1,
    )
    read = written = rejected = 0
    parts: list[Path] = []
    reject_parts: list[Path] = []
    for index, batch in enumerate(ds.iter_batches(batch_size=options.chunk_rows, batch_format="numpy")):
        ok = batch["ok"].astype(bool)
        rows = np.arange(read + 1, read + len(ok) + 1)
        read += len(ok)
        if ok.any():
            ids = batch["id"][ok].tolist() if options.id_column else rows[ok].tolist()
            parts.append(state_dir / f"part-{index:07d}.{schema.format}")
            write_predictions(parts[-1], schema, ids, batch["proba"][ok])
            written += int(ok.sum())
        if not ok.all():
            bad = ~ok
            rejects = [
                (int(r), i or None, str(reason))
                for r, i, reason in zip(rows[bad], batch["id"][bad], batch["reason"][bad], strict=True)
            ]
            reject_parts.append(state_dir / f"rejects-{index:07d}.{rejects_format}")
            _write_rejects(reject_parts[-1], rejects_format, rejects)
            rejected += len(rejects)
    join_parts(options.output_path, schema.format, schema.columns(), parts, empty_predictions(schema))
    join_parts(options.rejects_file, rejects_format, ["row", "id", "reason"], reject_parts, empty_rejects())
    return read, written, rejected


def run_ray(bundle_dir: Path, options: BatchOptions) -> BatchResult:
    """Run the job on Ray Data (a local instance, or the cluster at ``options.ray_address``).

    Raises:
        MissingExtraError: Ray is not installed.
        DataError: Ray could not read the input (e.g. a malformed JSON line; the local engine rejects
            such rows one by one).
        NlpopsError: the Ray job failed.
    """
    ray = _import_ray()
    if not options.input_path.is_file():
        raise DataError(f'Input file "{options.input_path}" does not exist. Check the --input path.')
    manifest = load_bundle(bundle_dir).manifest
    if manifest.task not in RAY_TASKS:
        raise ConfigError(
            f"--engine ray writes the predictions of {' and '.join(RAY_TASKS)} models; this is a {manifest.task} "
            "model. Use the local engine (--engine local)."
        )
    schema = output_schema(manifest, options)
    shutil.rmtree(options.state_dir, ignore_errors=True)
    options.state_dir.mkdir(parents=True)
    replicas = max(options.workers, 1)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=options.ray_address,
            num_cpus=None if options.ray_address else max(os.cpu_count() or 1, replicas + 1),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    started = time.monotonic()
    try:
        with warnings.catch_warnings():
            # Ray Data warns about its own deprecated defaults (use_push_based_shuffle): not the user's concern
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray(\..*)?$")
            read, written, rejected = _stream(ray, bundle_dir, options, schema, replicas)
    except NlpopsError:
        raise
    except (ray.exceptions.RayError, OSError, ValueError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise NlpopsError(
            f"The Ray batch job failed: {type(exc).__name__}: {first_line}. Check the input file and the Ray "
            "cluster, or run with --engine local (which also rejects malformed rows one by one)."
        ) from exc
    finally:
        shutil.rmtree(options.state_dir, ignore_errors=True)
        if started_here:
            ray.shutdown()
    elapsed_s = time.monotonic() - started
    return BatchResult(
        output_path=options.output_path,
        rejects_path=options.rejects_file,
        read=read,
        written=written,
        rejected=rejected,
        elapsed_s=round(elapsed_s, 3),
        rows_per_s=round(read / elapsed_s, 1) if elapsed_s > 0 else 0.0,
        resumed_chunks=0,
        engine="ray",
        workers=replicas,
    )


__all__ = ["RayPredictor", "run_ray"]
