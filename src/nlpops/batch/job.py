"""A batch job: options, the resumable run over an input file, and its result.

Parts and the checkpoint live in a hidden folder next to the output (``.<output name>.nlpops-batch``).
A run killed at any point (even SIGKILL) and started again with the same arguments continues after the
last committed chunk; when every chunk is committed the parts are joined, in input order, into the
output and rejects files, and the folder is removed.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from nlpops.batch.checkpoint import Checkpoint, ChunkStats, file_sha256, input_signature, load_checkpoint
from nlpops.batch.checkpoint import signature_changes as _changes
from nlpops.batch.local import ChunkTask, PartSpec, run_chunks
from nlpops.batch.progress import ProgressSink
from nlpops.batch.records import RecordSource
from nlpops.batch.writers import OutputSchema, empty_predictions, empty_rejects, join_parts
from nlpops.bundle import MANIFEST_NAME, load_bundle
from nlpops.data import detect_format
from nlpops.errors import ConfigError, DataError

Engine = Literal["local", "ray"]


@dataclass(frozen=True)
class BatchOptions:
    """What a batch run reads, writes and how.

    Attributes:
        input_path: CSV, JSONL or Parquet file to classify.
        output_path: predictions file (format from its suffix).
        text_column: input column holding the text.
        id_column: input column holding row ids; None writes row numbers (column ``row``).
        workers: worker processes (local engine; 0 = in this process) or model replicas (Ray).
        batch_size: texts per ``predict_proba`` call.
        chunk_rows: input rows per committed part (the unit of resumption).
        all_scores: also write every label's score.
        rejects_path: where bad rows go; default ``<output stem>.rejects<output suffix>``.
        restart: discard any checkpoint and start over.
        engine: ``local`` or ``ray``.
        ray_address: address of an existing Ray cluster (Ray engine); None starts a local instance.
    """

    input_path: Path
    output_path: Path
    text_column: str = "text"
    id_column: str | None = None
    workers: int = 1
    batch_size: int = 256
    chunk_rows: int = 10_000
    all_scores: bool = False
    rejects_path: Path | None = None
    restart: bool = False
    engine: Engine = "local"
    ray_address: str | None = None

    @property
    def rejects_file(self) -> Path:
        """The rejects file, defaulted from the output path."""
        if self.rejects_path is not None:
            return self.rejects_path
        return self.output_path.with_name(f"{self.output_path.stem}.rejects{self.output_path.suffix}")

    @property
    def state_dir(self) -> Path:
        """The folder holding parts and the checkpoint while the run is unfinished."""
        return self.output_path.with_name(f".{self.output_path.name}.nlpops-batch")


@dataclass(frozen=True)
class BatchResult:
    """Counts and figures of a finished run (``read == written + rejected``)."""

    output_path: Path
    rejects_path: Path
    read: int
    written: int
    rejected: int
    elapsed_s: float
    rows_per_s: float
    resumed_chunks: int
    engine: str
    workers: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        data = asdict(self)
        data["output_path"] = str(self.output_path)
        data["rejects_path"] = str(self.rejects_path)
        return data


def check_options(options: BatchOptions) -> None:
    """Refuse options that cannot work, listing every problem at once.

    Raises:
        ConfigError: invalid values (the message names each flag).
        DataError: an unknown file type.
    """
    problems = []
    if options.workers < 0:
        problems.append(f"--workers must be >= 0 (0 = in this process). Got {options.workers}.")
    if options.batch_size < 1:
        problems.append(f"--batch-size must be >= 1. Got {options.batch_size}.")
    if options.chunk_rows < 1:
        problems.append(f"--chunk-rows must be >= 1. Got {options.chunk_rows}.")
    if options.engine not in ("local", "ray"):
        problems.append(f'--engine must be "local" or "ray". Got "{options.engine}".')
    paths = {options.input_path.resolve(), options.output_path.resolve(), options.rejects_file.resolve()}
    if len(paths) < 3:
        problems.append("--input, --output and the rejects file must be three different files.")
    if problems:
        raise ConfigError(" ".join(problems))
    for path in (options.input_path, options.output_path, options.rejects_file):
        detect_format(path)


def _signature(options: BatchOptions, bundle_dir: Path) -> dict[str, Any]:
    return {
        "input": input_signature(options.input_path),
        "args": {
            "text_column": options.text_column,
            "id_column": options.id_column,
            "all_scores": options.all_scores,
            "chunk_rows": options.chunk_rows,
            "output": str(options.output_path.resolve()),
            "rejects": str(options.rejects_file.resolve()),
        },
        "model": {"bundle": str(bundle_dir.resolve()), "manifest_sha256": file_sha256(bundle_dir / MANIFEST_NAME)},
    }


def _chunks(source: RecordSource, options: BatchOptions, committed: set[int]) -> Iterator[ChunkTask]:
    """Group input rows into chunks of ``chunk_rows``; committed chunks are read but not built."""
    index, count, start = 0, 0, 0
    ids: list[Any] = []
    texts: list[str] = []
    rejects: list[tuple[int, str | None, str]] = []
    use_ids = options.id_column is not None
    for row, ident, text, reason in source:
        count += 1
        if index not in committed:
            if reason is not None:
                rejects.append((row, ident, reason))
            else:
                ids.append(ident if use_ids else row)
                texts.append(text)  # type: ignore[arg-type]  # text is set when reason is None
        if count == options.chunk_rows:
            end = source.position
            if index not in committed:
                yield ChunkTask(index, ids, texts, rejects, count, end - start)
            index, count, start = index + 1, 0, end
            ids, texts, rejects = [], [], []
    if count and index not in committed:
        yield ChunkTask(index, ids, texts, rejects, count, source.position - start)


def _finalize(options: BatchOptions, spec: PartSpec, checkpoint: Checkpoint, checkpoint_path: Path) -> None:
    """Join the parts into the output and rejects files, mark the run complete, then remove the parts."""
    order = sorted(checkpoint.chunks)
    if not checkpoint.complete:
        parts = [spec.part_path(i) for i in order if checkpoint.chunks[i].written]
        join_parts(
            options.output_path, spec.schema.format, spec.schema.columns(), parts, empty_predictions(spec.schema)
        )
        rejects = [spec.rejects_path(i) for i in order if checkpoint.chunks[i].rejected]
        join_parts(options.rejects_file, spec.rejects_format, ["row", "id", "reason"], rejects, empty_rejects())
        checkpoint.complete = True
        checkpoint.save(checkpoint_path)
    shutil.rmtree(options.state_dir, ignore_errors=True)


def run_batch(bundle_dir: Path, options: BatchOptions, progress: ProgressSink | None = None) -> BatchResult:
    """Classify every row of ``options.input_path`` with the bundle at ``bundle_dir``; resumable.

    Args:
        bundle_dir: the model's bundle directory (a registry ref must be resolved first).
        options: what to read and write, and how.
        progress: optional progress sink (e.g. :class:`nlpops.batch.progress.RichProgress`).

    Returns:
        The counts of the run (over the whole input, including resumed chunks) and its throughput.

    Raises:
        ConfigError: invalid options.
        DataError: unreadable input, missing column, a checkpoint from different input/arguments/model,
            or another run writing the same output.
        BundleError, RuntimeLoadError: the model cannot be loaded.
        NlpopsError: a worker failed or died (run again to resume).
    """
    check_options(options)
    if options.engine == "ray":
        from nlpops.batch.ray_engine import run_ray

        return run_ray(bundle_dir, options)
    from filelock import FileLock, Timeout

    manifest = load_bundle(bundle_dir).manifest
    source = RecordSource(options.input_path, options.text_column, options.id_column)
    schema = OutputSchema(
        format=detect_format(options.output_path),
        id_name=options.id_column or "row",
        labels=tuple(manifest.labels),
        all_scores=options.all_scores,
    )
    spec = PartSpec(options.state_dir, schema, detect_format(options.rejects_file), options.batch_size)
    signature = _signature(options, bundle_dir)
    checkpoint_path = options.state_dir / "checkpoint.json"
    options.state_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(options.state_dir / "lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise DataError(
            f'Another nlpops batch run is writing "{options.output_path}". Wait for it to finish, or choose '
            "another --output."
        ) from exc
    try:
        checkpoint = None if options.restart else load_checkpoint(checkpoint_path)
        if checkpoint is not None and checkpoint.signature != signature:
            changes = "; ".join(_changes(checkpoint.signature, signature))
            raise DataError(
                f'Cannot resume the batch run writing "{options.output_path}": {changes}. '
                "Run again with --restart to start over, or restore the original input and arguments."
            )
        if checkpoint is None:
            for stale in options.state_dir.glob("*"):
                if stale.name != "lock":
                    stale.unlink()
            checkpoint = Checkpoint(signature)
        resumed = len(checkpoint.chunks)
        started = time.monotonic()
        base_elapsed_s = checkpoint.elapsed_s
        new_rows = 0
        if not checkpoint.complete:
            read, _, _ = checkpoint.totals()
            if progress is not None:
                progress.start(source.total, source.unit, sum(c.span for c in checkpoint.chunks.values()), read)

            def on_done(index: int, stats: ChunkStats) -> None:
                nonlocal new_rows
                checkpoint.chunks[index] = stats
                checkpoint.elapsed_s = base_elapsed_s + time.monotonic() - started
                checkpoint.save(checkpoint_path)
                new_rows += stats.read
                if progress is not None:
                    progress.advance(stats.span, stats.read)

            try:
                tasks = _chunks(source, options, set(checkpoint.chunks))
                run_chunks(bundle_dir, tasks, spec, options.workers, on_done)
            finally:
                if progress is not None:
                    progress.finish()
            _finalize(options, spec, checkpoint, checkpoint_path)
        else:
            shutil.rmtree(options.state_dir, ignore_errors=True)
    finally:
        lock.release()
        if not checkpoint_path.exists():  # nothing committed: leave no empty state folder behind
            shutil.rmtree(options.state_dir, ignore_errors=True)
    elapsed_s = time.monotonic() - started
    read, written, rejected = checkpoint.totals()
    return BatchResult(
        output_path=options.output_path,
        rejects_path=options.rejects_file,
        read=read,
        written=written,
        rejected=rejected,
        elapsed_s=round(elapsed_s, 3),
        rows_per_s=round(new_rows / elapsed_s, 1) if elapsed_s > 0 else 0.0,
        resumed_chunks=resumed,
        engine="local",
        workers=options.workers,
    )


__all__ = ["BatchOptions", "BatchResult", "Engine", "check_options", "run_batch"]
