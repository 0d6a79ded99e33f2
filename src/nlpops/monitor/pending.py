"""Observations queued on the hot path and counted in batches, so an inference request pays one deque append.

:class:`PendingObservations` keeps each request's :class:`~nlpops.serve.Observation`;
:meth:`~PendingObservations.drain` hands runs of the same model version to :meth:`LiveStats.observe` as one
concatenated observation (a few numpy calls for hundreds of requests instead of a few per request). When
``max_pending`` requests are queued, :meth:`~PendingObservations.add` asks the monitor's thread to drain
(``on_full``), so counting never runs on the service's event loop; only a queue far beyond that (the thread
falling behind) is drained by ``add`` itself. The monitor also drains before every flush, status and drift
check.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from collections.abc import Set as AbstractSet

from nlpops.monitor.live import LiveStats
from nlpops.serve import Langs, Observation
from nlpops.tasks import join_outputs

VocabularyFor = Callable[[str, str], AbstractSet[str] | None]


class PendingObservations:
    """A thread-safe queue of observations in front of a :class:`LiveStats`.

    Args:
        live: where the counts go.
        max_pending: queued requests that make :meth:`add` drain at once (bounds memory).
        vocabulary_for: ``(model name, version) ->`` that version's word vocabulary, or None (no OOV counts).
        on_full: called (instead of draining here) when ``max_pending`` requests are queued: wakes the thread
            that drains; None: :meth:`add` drains itself.
    """

    BACKLOG_FACTOR = 16
    """With ``on_full``, :meth:`add` drains itself only beyond this many times ``max_pending`` (bounds memory)."""

    def __init__(
        self,
        live: LiveStats,
        *,
        max_pending: int = 256,
        vocabulary_for: VocabularyFor | None = None,
        on_full: Callable[[], None] | None = None,
    ) -> None:
        self.live = live
        self.max_pending = max_pending
        self.vocabulary_for = vocabulary_for
        self.on_full = on_full
        self._queue: deque[Observation] = deque()
        self._drain_lock = threading.Lock()

    def add(self, observation: Observation) -> None:
        """Queue one request's observation (counted by :meth:`LiveStats.observe` at the next drain)."""
        self._queue.append(observation)
        queued = len(self._queue)
        if queued >= self.max_pending:
            if self.on_full is None or queued >= self.max_pending * self.BACKLOG_FACTOR:
                self.drain()
            elif queued == self.max_pending:
                self.on_full()

    def drain(self) -> int:
        """Count every queued observation in ``live``; consecutive requests of one model version go as one batch.

        Returns:
            The number of requests counted.
        """
        with self._drain_lock:
            entries: list[Observation] = []
            while self._queue:
                entries.append(self._queue.popleft())
            start = 0
            while start < len(entries):
                first = entries[start]
                end = start + 1
                while end < len(entries) and _same_model(entries[end], first):
                    end += 1
                self._observe_run(entries[start:end])
                start = end
            return len(entries)

    def _observe_run(self, run: list[Observation]) -> None:
        first = run[0]
        vocabulary = self.vocabulary_for(first.model, first.version) if self.vocabulary_for is not None else None
        if len(run) == 1:
            self.live.observe(first, vocabulary=vocabulary)
            return
        texts = [text for entry in run for text in entry.texts]
        output = join_outputs([entry.output for entry in run])
        langs: Langs
        if all(isinstance(entry.langs, str | None) and entry.langs == first.langs for entry in run):
            langs = first.langs
        else:
            langs = [lang for entry in run for lang in entry.langs_per_text()]
        joined = Observation(
            texts, output, first.labels, langs, first.model, first.version, first.task, first.thresholds
        )
        self.live.observe(joined, vocabulary=vocabulary)


def _same_model(entry: Observation, first: Observation) -> bool:
    same_labels = entry.labels is first.labels or entry.labels == first.labels
    return entry.model == first.model and entry.version == first.version and same_labels and entry.task == first.task


__all__ = ["PendingObservations", "VocabularyFor"]
