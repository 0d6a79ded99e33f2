"""Per-language models vs one multilingual model, trained on the same split and measured the same way.

The evidence for the languages factor: macro-F1 per language as served (the model set routed by detection, as
a service routes requests without ``lang``; beside it, routed by each text's stated language), how well
detection routes each language, bundle size, memory, latency and throughput, and a recommendation: the
strategy that serves better on the test data (:func:`~nlpops.languages.scoring.recommend_strategy`, the rule
``--strategy auto`` applies to held-out training rows).
"""

from __future__ import annotations

import gc
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.bundle import Bundle
from nlpops.checklist import NlpopsConfig
from nlpops.data import Dataset
from nlpops.errors import DataError
from nlpops.families import build_bundle
from nlpops.languages.modelset import build_model_set
from nlpops.languages.scoring import recommend_strategy
from nlpops.languages.strategies import plan_languages, with_languages
from nlpops.runtimes import Predictor, load_predictor

_LATENCY_TEXTS = 200
_BATCH_SIZE = 64


@dataclass(frozen=True)
class StrategyFigures:
    """Measured facts of one strategy's bundle.

    Attributes:
        strategy: ``per-language`` or ``multilingual``.
        macro_f1: overall macro-F1 on the test split, as served (a model set routed by detection).
        per_language_macro_f1: macro-F1 per (stated) language of the test split, as served.
        size_bytes: bundle size on disk.
        memory_bytes: resident memory of a fresh process that loaded the bundle and predicted once (what one
            service replica needs) when the caller measures it so; else the growth of this process's memory.
        memory_measured: ``process`` (a fresh process) or ``growth`` (in this process: understates, since
            libraries loaded earlier are not counted).
        p50_ms / p95_ms: latency of one text per call.
        batch_texts_per_s: throughput with batches of 64 texts.
        stated_lang_macro_f1 / stated_lang_per_language_macro_f1: a model set routed by each text's stated
            language instead (what clients that send ``lang`` get); None / empty for one model.
    """

    strategy: str
    macro_f1: float
    per_language_macro_f1: dict[str, float]
    size_bytes: int
    memory_bytes: int
    p50_ms: float
    p95_ms: float
    batch_texts_per_s: float
    memory_measured: str = "growth"
    stated_lang_macro_f1: float | None = None
    stated_lang_per_language_macro_f1: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LanguageComparison:
    """``compare-languages``: both strategies side by side, how routing did, and the recommendation.

    Attributes:
        languages: the data's languages.
        test_rows: test rows per language.
        strategies: per-language, then multilingual.
        routing_accuracy: share of test texts routed by detection to the right model (their language's, or
            the fallback for a language without one).
        routing_accuracy_per_language: the same per language.
        routing: per language, the models that answered its texts (``reached``; ``und``: the fallback).
        detection: how the set routes by detection (identifier chosen, thresholds, held-out figures).
        recommendation: ``{"strategy", "per-language", "multilingual", "reason"}``.
    """

    languages: list[str]
    test_rows: dict[str, int]
    strategies: list[StrategyFigures]
    routing_accuracy: float
    routing_accuracy_per_language: dict[str, float]
    routing: dict[str, Any]
    detection: dict[str, Any]
    recommendation: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``--json``)."""
        return asdict(self)


def _rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def measure_predictor(load: Callable[[], Predictor], texts: Sequence[str]) -> tuple[int, float, float, float]:
    """(memory_bytes, p50_ms, p95_ms, batch_texts_per_s) of a predictor; memory is the RSS growth of loading it."""
    gc.collect()
    before = _rss_bytes()
    predictor = load()
    predictor.predict_proba(list(texts[:_BATCH_SIZE]))
    memory = max(0, _rss_bytes() - before)
    sample = list(texts[:_LATENCY_TEXTS])
    timings = []
    for text in sample:
        start = time.perf_counter()
        predictor.predict_proba([text])
        timings.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    for i in range(0, len(sample), _BATCH_SIZE):
        predictor.predict_proba(sample[i : i + _BATCH_SIZE])
    rate = len(sample) / max(time.perf_counter() - start, 1e-9)
    p50, p95 = (float(x) for x in np.percentile(timings, [50, 95]))
    return memory, p50, p95, rate


MemoryMeter = Callable[[Path], int]
"""Resident memory of a fresh process serving the bundle at the given path (e.g. from ``nlpops profile``)."""


def _figures(strategy: str, bundle: Bundle, test: Dataset, measure_memory: MemoryMeter | None) -> StrategyFigures:
    metrics = bundle.manifest.metrics
    memory, p50, p95, rate = measure_predictor(lambda: load_predictor(bundle), test.texts)
    if measure_memory is not None:
        memory = measure_memory(bundle.path)
    stated = metrics.get("routed_by_stated_lang") or {}
    return StrategyFigures(
        strategy=strategy,
        macro_f1=float(metrics.get("macro_f1", 0.0)),
        per_language_macro_f1={k: float(v["macro_f1"]) for k, v in metrics.get("per_language", {}).items()},
        stated_lang_macro_f1=stated.get("macro_f1"),
        stated_lang_per_language_macro_f1={k: float(v["macro_f1"]) for k, v in stated.get("per_language", {}).items()},
        size_bytes=bundle.size_bytes,
        memory_bytes=memory,
        p50_ms=p50,
        p95_ms=p95,
        batch_texts_per_s=rate,
        memory_measured="growth" if measure_memory is None else "process",
    )


def compare_languages(
    config: NlpopsConfig,
    train: Dataset,
    test: Dataset,
    *,
    workdir: Path | str | None = None,
    progress: Callable[[str], None] | None = None,
    measure_memory: MemoryMeter | None = None,
) -> LanguageComparison:
    """Train a per-language model set and one multilingual bundle on the same split; measure both as served.

    Args:
        config: the whole config (model family and settings for both strategies).
        train: training data (languages from its column, or detected).
        test: held-out data (same).
        workdir: where the two bundles are written (kept); default: a temporary folder, removed afterwards.
        progress: called with short progress messages.
        measure_memory: measures a bundle's memory in a fresh process (``nlpops compare-languages`` passes
            ``nlpops profile``'s); None: the growth of this process's memory, which understates.

    Returns:
        The comparison (see :class:`LanguageComparison`).

    Raises:
        DataError: the data holds fewer than two trainable languages, or no test rows.
        FamilyError / BundleError: training failed.
    """
    step = progress or (lambda _msg: None)
    train, test = with_languages(train), with_languages(test)
    if not len(test):
        raise DataError("compare-languages needs test rows. Pass --test or use a bigger dataset.")
    plan = plan_languages(train, "per-language", 1)
    if len(plan.own) < 2:
        found = ", ".join(f"{lang} {n}" for lang, n in plan.counts.items()) or "none"
        raise DataError(
            "compare-languages needs at least two languages with at least two labels each; the training data has "
            f"rows in {found}. Add a lang column naming each row's language, or there is nothing to compare: "
            "train one model (--strategy multilingual)."
        )
    base = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="nlpops-compare-"))
    try:
        step("training the per-language model set")
        model_set = build_model_set(
            config, train, test, base / "per-language", languages=plan.own, progress=progress, overwrite=True
        )
        step("training the multilingual model")
        multilingual = build_bundle(config, train, test, base / "multilingual", progress=progress, overwrite=True)
        step("measuring memory and latency")
        load_predictor(multilingual)  # imports the runtime's framework before any memory is measured
        figures = [
            _figures("per-language", model_set, test, measure_memory),
            _figures("multilingual", multilingual, test, measure_memory),
        ]
        per_language = model_set.manifest.metrics
    finally:
        if workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    counts: dict[str, int] = {}
    for lang in test.langs or []:
        counts[lang] = counts.get(lang, 0) + 1
    routing = per_language.get("routing") or {"accuracy": 0.0, "per_language": {}}
    return LanguageComparison(
        languages=sorted(plan.counts),
        test_rows=dict(sorted(counts.items())),
        strategies=figures,
        routing_accuracy=float(routing["accuracy"]),
        routing_accuracy_per_language={k: float(v["accuracy"]) for k, v in routing["per_language"].items()},
        routing={k: v["reached"] for k, v in routing["per_language"].items()},
        detection=dict(per_language.get("detection") or {}),
        recommendation=recommend_strategy(figures[0].macro_f1, figures[1].macro_f1),
    )


__all__ = ["LanguageComparison", "MemoryMeter", "StrategyFigures", "compare_languages", "measure_predictor"]
