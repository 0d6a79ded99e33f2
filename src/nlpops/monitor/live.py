"""Live statistics of a service: the reference statistics' counts, kept per model version and language.

The hot path (:meth:`LiveStats.observe`) only adds numpy bin counts under a lock; the service's monitor
(:class:`~nlpops.monitor.service.ServiceMonitor`) calls :meth:`LiveStats.flush` from its background thread
every ``monitoring.flush_interval_s`` to write them to the :class:`~nlpops.monitor.store.StatsStore`.
Texts are kept (redacted first when a redactor is given) only with ``store_texts=True``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nlpops.errors import NlpopsError
from nlpops.monitor.redact import PiiRedactor
from nlpops.monitor.store import StatsStore, TextRecord, WindowRecord
from nlpops.reference import CONFIDENCE_EDGES, LENGTH_EDGES, oov_counts, rows_of, task_counts
from nlpops.serve import Langs, Observation
from nlpops.tasks import predicted_counts

logger = logging.getLogger("nlpops.monitor")

UNKNOWN_LANG = "und"  # ISO 639-2 "undetermined"
_LENGTH_EDGES = np.asarray(LENGTH_EDGES[1:-1], dtype=np.float64)
_CONFIDENCE_EDGES = np.asarray(CONFIDENCE_EDGES[1:-1], dtype=np.float64)


@dataclass
class _Counts:
    labels: tuple[str, ...]
    rows: int = 0
    length: np.ndarray = field(default_factory=lambda: np.zeros(len(LENGTH_EDGES) - 1, dtype=np.int64))
    confidence: np.ndarray = field(default_factory=lambda: np.zeros(len(CONFIDENCE_EDGES) - 1, dtype=np.int64))
    label: np.ndarray | None = None
    tokens: int = 0
    oov_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        lengths: np.ndarray,
        counts: np.ndarray,
        confidence: np.ndarray | None,
        oov: tuple[np.ndarray, np.ndarray] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if self.label is None:
            self.label = np.zeros(len(self.labels), dtype=np.int64)
        self.rows += len(lengths)
        if oov is not None:
            self.tokens += int(oov[0].sum())
            self.oov_tokens += int(oov[1].sum())
        self.length += np.bincount(np.searchsorted(_LENGTH_EDGES, lengths, side="right"), minlength=len(self.length))
        if confidence is not None:
            bins = np.searchsorted(_CONFIDENCE_EDGES, confidence, side="right")
            self.confidence += np.bincount(bins, minlength=len(self.confidence))
        if counts.shape[1]:
            self.label += counts.sum(axis=0)[: len(self.labels)]
        if extra:
            self.extra = add_counts(self.extra, extra)


class LiveStats:
    """The live-statistics observer a service calls after each prediction.

    Args:
        store: where counts are flushed; None keeps them in memory only.
        redactor: applied to texts before they are stored (only matters with ``store_texts``).
        store_texts: also store each text, its label and score (off: privacy by default).
        clock: the time source (Unix seconds); tests pass their own.
    """

    def __init__(
        self,
        store: StatsStore | None,
        *,
        redactor: PiiRedactor | None = None,
        store_texts: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.redactor = redactor
        self.store_texts = store_texts
        self.clock = clock
        self._lock = threading.Lock()
        # Held while counts move from memory to the store, so a snapshot never sees them in neither place.
        self._flush_lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], _Counts] = {}
        self._texts: list[TextRecord] = []
        self._window_start = clock()

    def observe(self, observation: Observation, *, vocabulary: AbstractSet[str] | None = None) -> None:
        """Count one batch of predictions.

        Args:
            observation: the texts, their probabilities, languages, and the model that answered.
            vocabulary: the model's word vocabulary; with it, word tokens and out-of-vocabulary tokens are
                counted too.
        """
        texts = observation.texts
        if not len(texts):
            return
        task = observation.task
        lengths = np.fromiter(map(len, texts), dtype=np.float64, count=len(texts))
        counts, confidence = predicted_counts(task, observation.output, observation.labels, observation.thresholds)
        oov = oov_counts(texts, vocabulary) if vocabulary is not None else None
        groups = _group_by_language(observation.langs, len(lengths))
        key_labels = tuple(observation.labels)
        name, version = observation.model, observation.version
        with self._lock:
            for lang, rows in groups:
                key = (name, version, lang)
                window = self._counts.get(key)
                if window is None or window.labels != key_labels:
                    window = self._counts[key] = _Counts(key_labels)
                if rows is None:
                    window.add(lengths, counts, confidence, oov, task_counts(task, counts, observation.output))
                else:
                    part = (oov[0][rows], oov[1][rows]) if oov is not None else None
                    chosen = counts[rows]
                    scores = confidence[rows] if confidence is not None else None
                    extra = task_counts(task, chosen, rows_of(observation.output, rows))
                    window.add(lengths[rows], chosen, scores, part, extra)
            if self.store_texts:
                self._keep_texts(observation, counts, confidence)

    def _keep_texts(self, observation: Observation, counts: np.ndarray, confidence: np.ndarray | None) -> None:
        now = self.clock()
        labels = observation.labels
        scores = confidence.tolist() if confidence is not None else [0.0] * len(observation.texts)
        for row, (text, lang, score) in enumerate(
            zip(observation.texts, observation.langs_per_text(), scores, strict=True)
        ):
            stored = self.redactor.redact(text) if self.redactor is not None else text
            label = ",".join(labels[int(i)] for i in np.flatnonzero(counts[row])) if counts.shape[1] else ""
            record = TextRecord(now, observation.model, observation.version, lang or UNKNOWN_LANG, stored, label, score)
            self._texts.append(record)

    def _take(self) -> tuple[list[WindowRecord], list[TextRecord]]:
        with self._lock:
            counts, self._counts = self._counts, {}
            texts, self._texts = self._texts, []
            start, end = self._window_start, self.clock()
            self._window_start = end
        records = [_record(key, c, start, end) for key, c in counts.items() if c.rows]
        return records, texts

    def flush(self) -> int:
        """Write the counts gathered since the last flush to the store and start a new interval.

        Returns:
            The number of texts the flushed counts cover (0 without a store: counts then stay in memory).

        Raises:
            ConfigError: the store cannot be written (the counts are lost).
        """
        if self.store is None:  # memory only: the counts stay, covering the time since the start
            return 0
        with self._flush_lock:
            records, texts = self._take()
            self.store.save_windows(records)
            self.store.save_texts(texts)
        return sum(r.rows for r in records)

    def pending(self, model_name: str, model_version: str | None = None) -> list[WindowRecord]:
        """The counts not flushed yet, as records (for a status page between flushes).

        Args:
            model_name: the model name.
            model_version: one version, or None for all.

        Returns:
            One record per version and language.
        """
        with self._lock:
            now = self.clock()
            return [
                _record(key, c, self._window_start, now)
                for key, c in self._counts.items()
                if key[0] == model_name and (model_version is None or key[1] == model_version) and c.rows
            ]

    def snapshot(self, model_name: str, model_version: str | None, *, window_s: float) -> dict[str, Any]:
        """The live statistics of the last ``window_s`` seconds, stored and pending, in the reference's shape.

        Args:
            model_name: the model name.
            model_version: one version, or None for all.
            window_s: how far back to look.

        Returns:
            ``{"rows", "length_hist", "confidence_hist", "label_counts", "languages", "by_language", ...}``.
        """
        since = self.clock() - window_s
        with self._flush_lock:
            stored = self.store.load_windows(model_name, model_version, since_ts=since) if self.store else []
            pending = self.pending(model_name, model_version)
        return merge_windows([*stored, *pending])

    def close(self) -> None:
        """Flush what is left (errors are logged: this runs at shutdown, with no caller to raise to)."""
        self._flush_logged()

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except NlpopsError as exc:  # at shutdown there is no caller to raise to: log and go on
            logger.error("Live statistics were not saved: %s", exc)


def _group_by_language(langs: Langs, n: int) -> list[tuple[str, np.ndarray | None]]:
    if langs is None or isinstance(langs, str):
        return [(langs or UNKNOWN_LANG, None)]
    distinct = set(langs)
    if len(distinct) == 1:
        return [(next(iter(distinct)) or UNKNOWN_LANG, None)]
    values = np.asarray([lang or UNKNOWN_LANG for lang in langs], dtype=object)
    return [(str(lang), np.flatnonzero(values == lang)) for lang in sorted(set(values.tolist()))]


def _record(key: tuple[str, str, str], counts: _Counts, start: float, end: float) -> WindowRecord:
    label = counts.label if counts.label is not None else np.zeros(len(counts.labels), dtype=np.int64)
    return WindowRecord(
        start,
        end,
        key[0],
        key[1],
        key[2],
        counts.rows,
        counts.length.tolist(),
        counts.confidence.tolist(),
        dict(zip(counts.labels, label.tolist(), strict=True)),
        counts.tokens,
        counts.oov_tokens,
        counts.extra,
    )


def merge_windows(records: Sequence[WindowRecord]) -> dict[str, Any]:
    """Sum aggregate records into one statistics dict shaped like a bundle's ``reference``.

    Args:
        records: records of one model (any versions and languages).

    Returns:
        Overall ``rows``, ``length_hist``, ``confidence_hist``, ``label_counts``, ``tokens``, ``oov_tokens``,
        the task's own counters (``cardinality_hist``...), ``languages`` (rows per language) and
        ``by_language`` (the same statistics per language).
    """
    by_language: dict[str, dict[str, Any]] = {}
    extras: dict[str, dict[str, Any]] = {}
    for record in records:
        stats = by_language.setdefault(record.lang, _empty())
        _add(stats, record.rows, record.length_hist, record.confidence_hist, record.label_counts)
        stats["tokens"] += record.tokens
        stats["oov_tokens"] += record.oov_tokens
        extras[record.lang] = add_counts(extras.get(record.lang, {}), record.task_counts)
    total = _empty()
    overall: dict[str, Any] = {}
    for lang, stats in by_language.items():
        _add(total, stats["rows"], stats["length_hist"], stats["confidence_hist"], stats["label_counts"])
        total["tokens"] += stats["tokens"]
        total["oov_tokens"] += stats["oov_tokens"]
        overall = add_counts(overall, extras[lang])
        stats.update(extras[lang])
    total.update(overall)
    total["languages"] = {lang: stats["rows"] for lang, stats in sorted(by_language.items())}
    total["by_language"] = dict(sorted(by_language.items()))
    return total


def add_counts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two sets of additive counters summed: numbers added, lists element-wise, dicts per key (a new dict)."""
    out = dict(a)
    for key, value in b.items():
        mine = out.get(key)
        if mine is None:
            out[key] = value
        elif isinstance(value, dict):
            out[key] = add_counts(mine, value)
        elif isinstance(value, list):
            out[key] = [x + y for x, y in zip(mine, value, strict=True)]
        else:
            out[key] = mine + value
    return out


def _empty() -> dict[str, Any]:
    return {
        "rows": 0,
        "length_edges": LENGTH_EDGES,
        "length_hist": [0] * (len(LENGTH_EDGES) - 1),
        "confidence_edges": CONFIDENCE_EDGES,
        "confidence_hist": [0] * (len(CONFIDENCE_EDGES) - 1),
        "label_counts": {},
        "tokens": 0,
        "oov_tokens": 0,
    }


def _add(stats: dict[str, Any], rows: int, length: list[int], confidence: list[int], labels: dict[str, int]) -> None:
    stats["rows"] += rows
    stats["length_hist"] = [a + b for a, b in zip(stats["length_hist"], length, strict=True)]
    stats["confidence_hist"] = [a + b for a, b in zip(stats["confidence_hist"], confidence, strict=True)]
    for label, count in labels.items():
        stats["label_counts"][label] = stats["label_counts"].get(label, 0) + count


__all__ = ["UNKNOWN_LANG", "LiveStats", "add_counts", "merge_windows"]
