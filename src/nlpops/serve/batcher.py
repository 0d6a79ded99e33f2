"""Micro-batching: concurrent requests share one model call, bounded by size, wait and a length budget.

A request's texts are queued as one entry pinned to the model that was live when it arrived, with how a
model set routes them (a :class:`~nlpops.runtimes.RoutingDecision`, passed on with the texts). One worker
task forms batches in arrival order and runs them off the event loop (in one inference thread), so
batches fill up by themselves while the previous one runs. A batch:

- holds at most ``max_batch_size`` texts (a larger request is split across batches),
- costs at most ``max_batch_tokens``, counted as padded cost ``len(batch) * longest text`` (one long
  text goes out with few others instead of slowing a whole batch; a text over the budget goes alone),
- only holds texts pinned to the same model (requests in flight during a hot swap finish on the old one),
- is flushed at once when no other request is waiting; while new requests keep arriving it waits for
  them at most ``max_wait_ms``.

The queue is bounded by ``max_queue`` texts: beyond it :meth:`MicroBatcher.submit` raises
:class:`~nlpops.errors.OverloadedError` (HTTP 503).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from nlpops.errors import OverloadedError, ServingError
from nlpops.runtimes import RoutingDecision

M = TypeVar("M")

InferFn = Callable[[M, list[str], RoutingDecision | None], np.ndarray]
LengthsFn = Callable[[M, Sequence[str]], list[int]]
BatchObserver = Callable[[int, float], None]


@dataclass(frozen=True)
class BatchLimits:
    """The bounds of one batch and of the queue.

    Args:
        max_batch_size: most texts in one model call.
        max_wait_ms: longest a batch waits for more requests while they keep arriving.
        max_batch_tokens: padded length budget of one batch (``len(batch) * longest``).
        max_queue: most texts waiting; beyond it requests are refused (503).
    """

    max_batch_size: int = 64
    max_wait_ms: float = 2.0
    max_batch_tokens: int = 16384
    max_queue: int = 1024

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.max_batch_tokens < 1 or self.max_queue < 1 or self.max_wait_ms < 0:
            raise ServingError(
                f"Invalid batch limits {self}: sizes must be >= 1 and max_wait_ms >= 0. Fix the serving section."
            )


@dataclass
class _Entry(Generic[M]):
    """One request's texts, pinned to a model; rows are filled in as its batches finish."""

    model: M
    texts: list[str]
    routing: RoutingDecision | None
    lengths: list[int]
    future: asyncio.Future[np.ndarray]
    enqueued_at: float
    next_index: int = 0
    done_count: int = 0
    rows: list[np.ndarray | None] = field(default_factory=list)


@dataclass
class _Slice(Generic[M]):
    entry: _Entry[M]
    start: int
    stop: int


class MicroBatcher(Generic[M]):
    """Gathers concurrent requests into batches and runs them in one inference thread.

    Args:
        infer: ``infer(model, texts, routing) -> array (len(texts), n_labels)``; runs in the inference thread
            (``routing`` covers exactly ``texts``, or is None when the requests carried none).
        lengths: ``lengths(model, texts) -> list[int]``, the cost of each text (``Predictor.text_lengths``).
        limits: the batch and queue bounds.
        on_batch: called on the event loop after each batch with ``(batch_size, seconds_in_model)``.
        on_queued: called with the seconds each request waited before its first batch started.
        clock: monotonic clock in seconds (tests may pass their own).
        executor: where inference runs; by default one thread owned by the batcher.
    """

    def __init__(
        self,
        infer: InferFn[M],
        lengths: LengthsFn[M],
        limits: BatchLimits,
        *,
        on_batch: BatchObserver | None = None,
        on_queued: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        executor: Executor | None = None,
    ) -> None:
        self._infer = infer
        self._lengths = lengths
        self.limits = limits
        self._on_batch = on_batch
        self._on_queued = on_queued
        self._clock = clock
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlpops-infer")
        self._queue: deque[_Entry[M]] = deque()
        self._pending_texts = 0
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def queue_depth(self) -> int:
        """Texts waiting for a batch (not counting the batch being computed)."""
        return self._pending_texts

    def start(self) -> None:
        """Start the worker task on the running event loop (idempotent)."""
        if self._task is None:
            self._wakeup = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="nlpops-batcher")

    async def submit(self, model: M, texts: Sequence[str], routing: RoutingDecision | None = None) -> np.ndarray:
        """Queue ``texts`` for ``model`` and wait for their rows of probabilities.

        Args:
            model: the model to answer with (batches never mix models).
            texts: the texts.
            routing: how a model set routes ``texts`` (one entry per text), handed to ``infer`` with them.

        Returns:
            An array of shape ``(len(texts), n_labels)``, in the order of ``texts``.

        Raises:
            OverloadedError: the queue is full (the caller answers 503 with Retry-After).
            ServingError: the batcher is closed.
            Exception: whatever the model raised for the batch holding these texts.
        """
        if self._closed:
            raise ServingError("The service is shutting down; retry on another instance.")
        if not texts:
            return np.zeros((0, 0), dtype=np.float64)
        if self._pending_texts + len(texts) > self.limits.max_queue:
            raise OverloadedError(
                f"The request queue is full ({self._pending_texts} texts waiting, limit "
                f"serving.max_queue={self.limits.max_queue}). Retry shortly or add replicas."
            )
        self.start()
        loop = asyncio.get_running_loop()
        entry = _Entry(model, list(texts), routing, self._lengths(model, texts), loop.create_future(), self._clock())
        entry.rows = [None] * len(texts)
        self._queue.append(entry)
        self._pending_texts += len(texts)
        assert self._wakeup is not None
        self._wakeup.set()
        return await entry.future

    async def close(self) -> None:
        """Finish everything queued, then stop the worker and the inference thread."""
        self._closed = True
        if self._task is not None:
            assert self._wakeup is not None
            self._wakeup.set()
            await self._task
            self._task = None
        if self._own_executor:
            self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = await self._gather()
            await self._execute(batch)

    async def _gather(self) -> list[_Slice[M]]:
        """Take a batch from the queue; wait for more only while new requests keep arriving."""
        deadline = self._clock() + self.limits.max_wait_ms / 1000.0
        batch: list[_Slice[M]] = []
        state = [0, 0]  # texts in batch, longest text
        while True:
            if self._take(batch, state):
                return batch
            await asyncio.sleep(0)  # let requests that are ready right now reach the queue
            if not self._queue or self._clock() >= deadline:
                return batch  # nobody else is waiting (or we waited long enough): flush at once

    def _take(self, batch: list[_Slice[M]], state: list[int]) -> bool:
        """Move texts from the queue head into ``batch``; True when the batch can take no more."""
        limits = self.limits
        while self._queue:
            entry = self._queue[0]
            if batch and entry.model is not batch[0].entry.model:
                return True
            start = entry.next_index
            stop = start
            size, longest = state
            while stop < len(entry.texts) and size < limits.max_batch_size:
                new_longest = max(longest, entry.lengths[stop])
                if size > 0 and (size + 1) * new_longest > limits.max_batch_tokens:
                    break
                size, longest = size + 1, new_longest
                stop += 1
            if stop > start:
                if start == 0 and self._on_queued is not None:
                    self._on_queued(self._clock() - entry.enqueued_at)
                if batch and batch[-1].entry is entry:
                    batch[-1].stop = stop
                else:
                    batch.append(_Slice(entry, start, stop))
                entry.next_index = stop
                self._pending_texts -= stop - start
                state[0], state[1] = size, longest
            if entry.next_index >= len(entry.texts):
                self._queue.popleft()
            if stop < len(entry.texts):
                return True  # this entry did not fit entirely: the batch is full
        return state[0] >= limits.max_batch_size

    async def _execute(self, batch: list[_Slice[M]]) -> None:
        model = batch[0].entry.model
        texts = [t for s in batch for t in s.entry.texts[s.start : s.stop]]
        routing = _joined_routing(batch)
        loop = asyncio.get_running_loop()
        started = self._clock()
        try:
            proba = await loop.run_in_executor(self._executor, self._infer, model, texts, routing)
            if proba.shape[0] != len(texts):
                raise ServingError(
                    f"The model returned {proba.shape[0]} rows for {len(texts)} texts. The runtime is broken."
                )
        except Exception as exc:  # the model's failure belongs to every request in the batch
            for s in batch:
                if not s.entry.future.done():
                    s.entry.future.set_exception(exc)
            return
        if self._on_batch is not None:
            self._on_batch(len(texts), self._clock() - started)
        offset = 0
        for s in batch:
            entry = s.entry
            count = s.stop - s.start
            if count == len(entry.texts):  # the whole request in this batch (the usual case): its rows, no copy
                if not entry.future.done():
                    entry.future.set_result(proba[offset : offset + count])
                offset += count
                continue
            for i in range(s.start, s.stop):
                entry.rows[i] = proba[offset]
                offset += 1
            entry.done_count += count
            if entry.done_count == len(entry.texts) and not entry.future.done():
                entry.future.set_result(np.stack(entry.rows))  # type: ignore[arg-type]


def _joined_routing(batch: list[_Slice[M]]) -> RoutingDecision | None:
    """The routing of a batch's texts: the slices' routings joined (None when the requests carried none)."""
    parts = [s.entry.routing.part(s.start, s.stop) for s in batch if s.entry.routing is not None]
    if not parts:
        return None
    if len(parts) != len(batch):
        raise ServingError("A batch mixes routed and unrouted requests for one model. This is a bug in nlpops.")
    return RoutingDecision.join(parts)


__all__ = ["BatchLimits", "MicroBatcher"]
