"""The local engine's worker processes: chunks of rows predicted, each part committed atomically.

Each worker loads the Predictor once, then takes chunks from a bounded queue (so the reader never runs
far ahead: memory stays bounded), predicts them ``batch_size`` texts at a time and writes the chunk's
part file (and its rejects part) itself. The parent only reads, dispatches and records commits.
``workers=0`` runs the same code in the calling process.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpops import errors
from nlpops.batch.checkpoint import ChunkStats
from nlpops.batch.writers import OutputSchema, write_predictions, write_rejects
from nlpops.bundle import read_manifest
from nlpops.errors import NlpopsError
from nlpops.runtimes import RUNTIMES, Predictor, load_predictor, predict_output
from nlpops.tasks import join_outputs

_POLL_S = 0.2
# Modules a runtime imports only when it loads a model (by name: this process never imports them).
_LAZY_IMPORTS: dict[str, tuple[str, ...]] = {
    "sklearn": ("sklearn.pipeline", "sklearn.feature_extraction.text", "sklearn.linear_model", "sklearn.svm")
}
_PARENT_CHECK_S = 1.0
_JOIN_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ChunkTask:
    """One unit of work and of commit: ``read`` consecutive input rows, of which ``texts`` are classified."""

    index: int
    ids: list[Any]
    texts: list[str]
    rejects: list[tuple[int, str | None, str]]
    read: int
    span: int


@dataclass(frozen=True)
class PartSpec:
    """Where and how the parts of a run are written."""

    state_dir: Path
    schema: OutputSchema
    rejects_format: str
    batch_size: int

    def part_path(self, index: int) -> Path:
        """The predictions part of chunk ``index``."""
        return self.state_dir / f"part-{index:07d}.{self.schema.format}"

    def rejects_path(self, index: int) -> Path:
        """The rejects part of chunk ``index``."""
        return self.state_dir / f"rejects-{index:07d}.{self.rejects_format}"


def process_chunk(predictor: Predictor, task: ChunkTask, spec: PartSpec) -> ChunkStats:
    """Predict one chunk and commit its parts (rejects first, then predictions).

    Args:
        predictor: the loaded model.
        task: the chunk.
        spec: where the parts go.

    Returns:
        The chunk's counts.

    Raises:
        OSError: a part could not be written.
    """
    if task.rejects:
        write_rejects(spec.rejects_path(task.index), spec.rejects_format, task.rejects)
    blocks = [
        predict_output(predictor, task.texts[start : start + spec.batch_size])
        for start in range(0, len(task.texts), spec.batch_size)
    ]
    if blocks:
        write_predictions(spec.part_path(task.index), spec.schema, task.ids, join_outputs(blocks), task.texts)
    return ChunkStats(read=task.read, written=len(task.texts), rejected=len(task.rejects), span=task.span)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _worker_main(bundle_dir: str, spec: PartSpec, tasks: Any, results: Any, parent_pid: int) -> None:
    """Body of a worker process: load the model once, then process chunks until told to stop."""
    spawner_pid = os.getppid()  # the batch process, or the fork server it started
    try:
        predictor = load_predictor(bundle_dir)
        while True:
            try:
                task = tasks.get(timeout=_PARENT_CHECK_S)
            except queue.Empty:
                if os.getppid() != spawner_pid or not _is_running(parent_pid):  # orphaned: stop, do not linger
                    return
                continue
            if task is None:
                return
            results.put(("done", task.index, process_chunk(predictor, task, spec)))
    except NlpopsError as exc:
        results.put(("error", type(exc).__name__, str(exc)))
    except Exception as exc:  # a process boundary: report to the parent instead of dying with a traceback
        results.put(("error", "NlpopsError", f"A batch worker failed: {type(exc).__name__}: {exc}"))


def _raise_worker_error(class_name: str, message: str) -> None:
    cls = getattr(errors, class_name, NlpopsError)
    if not (isinstance(cls, type) and issubclass(cls, NlpopsError)):
        cls = NlpopsError
    raise cls(message)


def _worker_context(bundle_dir: Path) -> Any:
    """A fork server that has imported the bundle's runtime once, so each worker starts in milliseconds.

    Importing a runtime (scikit-learn, onnxruntime, torch) takes a second or more; with ``spawn`` every
    worker would pay it. Plain ``fork`` would copy the parent's threads' locks (the progress bar runs a
    thread). Where there is no fork server (Windows), workers are spawned.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    runtime = read_manifest(bundle_dir).runtime
    module = RUNTIMES.get(runtime, "").split(":")[0]
    preload = ["nlpops.batch.workers", *([module] if module else []), *_LAZY_IMPORTS.get(runtime, ())]
    context.set_forkserver_preload(preload)  # a module that fails to import is skipped
    return context


def run_chunks(
    bundle_dir: Path,
    tasks: Iterator[ChunkTask],
    spec: PartSpec,
    workers: int,
    on_done: Callable[[int, ChunkStats], None],
) -> None:
    """Process every chunk from ``tasks``, calling ``on_done(index, stats)`` in the parent after each commit.

    Args:
        bundle_dir: the bundle each worker loads.
        tasks: chunks still to do, in input order (read lazily).
        spec: where the parts go.
        workers: worker processes; 0 runs in this process.
        on_done: called once per committed chunk (any order).

    Raises:
        NlpopsError: a worker failed to load the model or to process a chunk, or died.
    """
    if workers == 0:
        predictor = load_predictor(bundle_dir)
        for task in tasks:
            on_done(task.index, process_chunk(predictor, task, spec))
        return
    context = _worker_context(bundle_dir)
    task_queue: Any = context.Queue(maxsize=workers * 2)
    result_queue: Any = context.Queue()
    processes = [
        context.Process(
            target=_worker_main,
            args=(str(bundle_dir), spec, task_queue, result_queue, os.getpid()),
            name=f"nlpops-batch-{n}",
            daemon=True,
        )
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    pending = 0

    def drain(block: bool) -> None:
        nonlocal pending
        while True:
            try:
                message = result_queue.get(timeout=_POLL_S) if block else result_queue.get_nowait()
            except queue.Empty:
                dead = [p for p in processes if p.exitcode is not None and p.exitcode != 0]
                if not dead and block and all(p.exitcode is not None for p in processes):
                    try:  # results a worker sent just before it exited may still be in the pipe
                        message = result_queue.get(timeout=_JOIN_TIMEOUT_S)
                    except queue.Empty:
                        dead = processes
                    else:
                        _handle(message)
                        return
                if dead:
                    process = (dead or processes)[0]
                    raise NlpopsError(
                        f"Batch worker {process.name} (pid {process.pid}) exited with code {process.exitcode} "
                        "(killed, or out of memory?). Run the same command again to resume from the checkpoint."
                    ) from None
                return
            _handle(message)
            block = False

    def _handle(message: tuple[Any, ...]) -> None:
        nonlocal pending
        if message[0] == "error":
            _raise_worker_error(message[1], message[2])
        pending -= 1
        on_done(message[1], message[2])

    try:
        for task in tasks:
            while True:
                drain(block=False)
                try:
                    task_queue.put(task, timeout=_POLL_S)
                except queue.Full:
                    continue
                pending += 1
                break
        for _ in processes:
            task_queue.put(None)
        while pending > 0:
            drain(block=True)
        for process in processes:
            process.join(timeout=_JOIN_TIMEOUT_S)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=_JOIN_TIMEOUT_S)
        task_queue.cancel_join_thread()
        task_queue.close()
        result_queue.close()


__all__ = ["ChunkTask", "PartSpec", "process_chunk", "run_chunks"]
