"""Observations queued on the hot path and counted in batches, so a classify request pays one deque append.

:class:`PendingObservations` keeps each request's texts and probabilities; :meth:`~PendingObservations.drain`
hands runs of the same model version to :meth:`LiveStats.observe` as one concatenated batch (a few numpy
calls for hundreds of requests instead of a few per request). The service drains when
``max_pending`` requests are queued, and the monitor drains before every flush, status and drift check.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet

import numpy as np

from nlpops.monitor.live import Langs, LiveStats

_Entry = tuple[Sequence[str], np.ndarray, Sequence[str], Langs, str, str]
VocabularyFor = Callable[[str, str], AbstractSet[str] | None]


class PendingObservations:
    """A thread-safe queue of observations in front of a :class:`LiveStats`.

    Args:
        live: where the counts go.
        max_pending: queued requests that make :meth:`add` drain at once (bounds memory).
        vocabulary_for: ``(model name, version) ->`` that version's word vocabulary, or None (no OOV counts).
    """

    def __init__(self, live: LiveStats, *, max_pending: int = 256, vocabulary_for: VocabularyFor | None = None) -> None:
        self.live = live
        self.max_pending = max_pending
        self.vocabulary_for = vocabulary_for
        self._queue: deque[_Entry] = deque()
        self._drain_lock = threading.Lock()

    def add(
        self,
        texts: Sequence[str],
        proba: np.ndarray,
        labels: Sequence[str],
        langs: Langs,
        model_name: str,
        model_version: str,
    ) -> None:
        """Queue one request's predictions (same arguments as :meth:`LiveStats.observe`)."""
        self._queue.append((texts, proba, labels, langs, model_name, model_version))
        if len(self._queue) >= self.max_pending:
            self.drain()

    def drain(self) -> int:
        """Count every queued observation in ``live``; consecutive requests of one model version go as one batch.

        Returns:
            The number of requests counted.
        """
        with self._drain_lock:
            entries: list[_Entry] = []
            while self._queue:
                entries.append(self._queue.popleft())
            start = 0
            while start < len(entries):
                end = start + 1
                _, _, labels, _, name, version = entries[start]
                while end < len(entries) and entries[end][4:] == (name, version) and entries[end][2] == labels:
                    end += 1
                self._observe_run(entries[start:end])
                start = end
            return len(entries)

    def _observe_run(self, run: list[_Entry]) -> None:
        _, _, labels, _, name, version = run[0]
        vocabulary = self.vocabulary_for(name, version) if self.vocabulary_for is not None else None
        if len(run) == 1:
            self.live.observe(run[0][0], run[0][1], labels, run[0][3], name, version, vocabulary=vocabulary)
            return
        texts = [text for entry in run for text in entry[0]]
        proba = np.concatenate([np.asarray(entry[1]) for entry in run])
        first = run[0][3]
        langs: Langs
        if all(isinstance(entry[3], str | None) and entry[3] == first for entry in run):
            langs = first
        else:
            langs = [lang for entry in run for lang in _per_text(entry[3], len(entry[0]))]
        self.live.observe(texts, proba, labels, langs, name, version, vocabulary=vocabulary)


def _per_text(langs: Langs, n: int) -> Sequence[str | None]:
    if langs is None or isinstance(langs, str):
        return [langs] * n
    return langs


__all__ = ["PendingObservations", "VocabularyFor"]
