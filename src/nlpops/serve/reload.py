"""Hot swap: follow a model source, load a new version in the background, switch it in atomically.

The live model is one attribute; a request pins the model it started with, so requests in flight finish
on the old one. A version that fails to load or verify is logged, counted in
``nlpops_model_load_failures`` and not retried until the source points somewhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable

from nlpops.errors import NlpopsError, ServingError
from nlpops.serve.metrics import ServiceMetrics
from nlpops.serve.source import LoadedModel, ModelPointer, ModelSource, load_model

logger = logging.getLogger("nlpops.serve")


class ModelReloader:
    """Holds the live model and swaps it when the source points at a new version.

    Args:
        source: says where the ref points now (called in a worker thread; may do registry I/O).
        metrics: where swaps and load failures are counted.
        poll_interval_s: how often to ask the source; ``None`` never polls (a fixed bundle).
        loader: turns a pointer into a verified, warm model.
        initial: an already loaded model to start with (else :meth:`load_initial` loads one).
    """

    def __init__(
        self,
        source: ModelSource,
        metrics: ServiceMetrics,
        *,
        poll_interval_s: float | None,
        loader: Callable[[ModelPointer], LoadedModel] = load_model,
        initial: LoadedModel | None = None,
    ) -> None:
        self._source = source
        self._metrics = metrics
        self._poll_interval_s = poll_interval_s
        self._loader = loader
        self._current: LoadedModel | None = None
        self._failed: ModelPointer | None = None
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        if initial is not None:
            self._switch(initial)

    @property
    def current(self) -> LoadedModel | None:
        """The live model (None until the first load finished)."""
        return self._current

    async def load_initial(self) -> LoadedModel:
        """Load the version the source points at now, unless a model was given at construction; then keep the
        loaded heap out of full garbage collections (:func:`freeze_heap`).

        Raises:
            NlpopsError: the first version cannot be loaded (the service cannot start).
        """
        if self._current is None:
            pointer = await asyncio.to_thread(self._source)
            self._switch(await asyncio.to_thread(self._loader, pointer))
        freeze_heap(first=True)
        assert self._current is not None
        return self._current

    def start(self) -> None:
        """Start polling the source (no-op for a source that never moves)."""
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()
        if self._poll_interval_s is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._poll(), name="nlpops-reloader")

    def request_check(self) -> None:
        """Ask for a check now (SIGHUP); safe to call from a signal handler on the loop."""
        if self._wakeup is not None:
            self._wakeup.set()

    async def check_now(self) -> bool:
        """Ask the source once; load, verify and switch in a new version if it moved.

        Returns:
            True when a new version was switched in.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            try:
                pointer = await asyncio.to_thread(self._source)
            except NlpopsError as exc:
                logger.warning("Cannot resolve the model source (keeping the current version): %s", exc)
                return False
            current = self._current
            if (current is not None and pointer == current.pointer) or pointer == self._failed:
                return False
            try:
                loaded = await asyncio.to_thread(self._loader, pointer)
            except Exception as exc:  # any failure of a new version leaves the old one serving
                self._failed = pointer
                self._metrics.load_failures.labels(model=pointer.name).inc()
                logger.error(
                    "Model %s version %s failed to load or verify; still serving %s. Cause: %s",
                    pointer.name,
                    pointer.version,
                    current.version if current else "nothing",
                    exc,
                )
                return False
            self._switch(loaded)
            self._metrics.swaps.labels(model=pointer.name).inc()
            logger.info(
                "Now serving %s version %s (was %s).", pointer.name, pointer.version, current and current.version
            )
            del current  # the previous model: freed now, or collected by freeze_heap if it holds cycles
            freeze_heap(first=False)
            return True

    async def close(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _switch(self, loaded: LoadedModel) -> None:
        previous = self._current
        self._current = loaded  # one assignment: requests read either the old or the new model
        self._failed = None
        self._metrics.set_live_model(
            loaded.name, loaded.version, (previous.name, previous.version) if previous else None
        )

    async def _poll(self) -> None:
        assert self._wakeup is not None and self._poll_interval_s is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self._poll_interval_s)
            self._wakeup.clear()
            try:
                await self.check_now()
            except ServingError as exc:  # pragma: no cover - check_now handles its own failures
                logger.error("Model check failed: %s", exc)


def freeze_heap(*, first: bool) -> None:
    """Keep the live model out of the cyclic garbage collector's full collections.

    A loaded model is hundreds of thousands of long-lived objects (a TF-IDF vocabulary alone is one string per
    n-gram); every full collection walks all of them, which takes 50-150 ms with the GIL held: the service's
    slowest answers (its p99 and max under load). :func:`gc.freeze` moves every object alive now into the
    permanent generation, which collections skip; objects are still freed by reference counting. After a swap
    the previous model may have left cycles in the permanent generation, so it is unfrozen and collected once
    (one full collection per swap) before the new heap is frozen. At start-up the heap is frozen as it is: a
    full collection there would add 70-80 ms to every start (a TF-IDF service starts in about 1.6 s) to free
    the few cycles that imports leave.
    """
    if not first:
        gc.unfreeze()
        gc.collect()
    gc.freeze()


__all__ = ["ModelReloader", "freeze_heap"]
