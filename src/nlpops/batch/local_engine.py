"""The local engine: a resumable run over an input file on worker processes.

Parts and the checkpoint live in a hidden folder next to the output (``.<output name>.nlpops-batch``).
A run killed at any point (even SIGKILL) and started again with the same arguments continues after the
last committed chunk; when every chunk is committed the parts are joined, in input order, into the
output and rejects files, and the folder is removed. The chunks are predicted by
:mod:`nlpops.batch.workers`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nlpops.batch.checkpoint import Checkpoint, ChunkStats, file_sha256, input_signature, load_checkpoint
from nlpops.batch.checkpoint import signature_changes as _changes
from nlpops.batch.options import BatchOptions, BatchResult
from nlpops.batch.progress import ProgressSink
from nlpops.batch.records import RecordSource
from nlpops.batch.workers import ChunkTask, PartSpec, run_chunks
from nlpops.batch.writers import empty_predictions, empty_rejects, join_parts, output_schema
from nlpops.bundle import MANIFEST_NAME, load_bundle
from nlpops.data import detect_format
from nlpops.errors import DataError


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


def run_local(bundle_dir: Path, options: BatchOptions, progress: ProgressSink | None = None) -> BatchResult:
    """Run the job on local worker processes (``options.workers``; 0 runs in this process); resumable.

    Args:
        bundle_dir: the model's bundle directory.
        options: checked options (:func:`nlpops.batch.options.check_options`).
        progress: optional progress sink.

    Returns:
        The counts of the run (over the whole input, including resumed chunks) and its throughput.

    Raises:
        DataError: unreadable input, missing column, a checkpoint from different input/arguments/model,
            or another run writing the same output.
        BundleError, RuntimeLoadError: the model cannot be loaded.
        NlpopsError: a worker failed or died (run again to resume).
    """
    from filelock import FileLock, Timeout

    manifest = load_bundle(bundle_dir).manifest
    source = RecordSource(options.input_path, options.text_column, options.id_column)
    schema = output_schema(manifest, options)
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


__all__ = ["run_local"]
