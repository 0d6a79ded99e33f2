"""Training strategies for multilingual data: ``per-language``, ``multilingual`` and ``auto``.

- ``multilingual``: one bundle for all languages (a plain bundle).
- ``per-language``: one model per language (every language with enough label variety to train), plus a
  multilingual fallback for unknown languages: a model set.
- ``auto``: languages with at least ``languages.min_examples_per_language`` training rows get their own model;
  the rest share the multilingual fallback. That set is then measured against one multilingual model on
  held-out training rows, both scored as served (the set routed by detection), and whichever serves better is
  trained on all rows (:func:`choose_strategy`); the choice and its figures go into the manifest
  (``strategy_choice``). When no language (or only the data's single language) qualifies, the result is one
  multilingual bundle.

Languages come from the dataset's language column (any language code: detection need not know it), or are
detected when it has none.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from nlpops.bundle import Bundle
from nlpops.checklist import NlpopsConfig
from nlpops.data import Dataset, normalize_languages
from nlpops.errors import ConfigError, DataError
from nlpops.families import build_bundle
from nlpops.languages.detection import holdout_rows
from nlpops.languages.modelset import build_model_set
from nlpops.runtimes.langid import UND, LanguageDetector, normalize_lang

Strategy = Literal["per-language", "multilingual", "auto"]
STRATEGIES: tuple[str, ...] = ("per-language", "multilingual", "auto")


@dataclass(frozen=True)
class LanguagePlan:
    """Which languages get their own model under a strategy.

    Attributes:
        strategy: the strategy asked for.
        counts: training rows per language.
        own: languages with their own model (empty: one multilingual bundle).
        shared: languages answered by the multilingual fallback.
    """

    strategy: str
    counts: dict[str, int]
    own: list[str]
    shared: list[str]

    @property
    def is_model_set(self) -> bool:
        return bool(self.own)


def with_languages(dataset: Dataset, detector: LanguageDetector | None = None) -> Dataset:
    """``dataset`` with a normalised language per row: its own column, or detected when it has none.

    Raises:
        DataError: a value of the language column is not a language code.
    """
    if dataset.langs is not None:
        return normalize_languages(dataset)
    detector = detector or LanguageDetector()
    return replace(dataset, langs=detector.detect_many(dataset.texts))


def plan_languages(train: Dataset, strategy: str, min_examples_per_language: int) -> LanguagePlan:
    """Decide which languages get their own model.

    Raises:
        ConfigError: unknown strategy.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(
            f'Unknown language strategy "{strategy}". Use one of: {", ".join(STRATEGIES)} (--strategy or '
            "languages.strategy)."
        )
    counts = dict(sorted(Counter(train.langs or []).items()))
    # a language whose rows all share one label cannot train a classifier of its own
    trainable = {
        lang
        for lang in counts
        if lang != UND
        and len({label for label, x in zip(train.labels, train.langs or [], strict=True) if x == lang}) > 1
    }
    if strategy == "multilingual":
        own: list[str] = []
    elif strategy == "per-language":
        own = sorted(trainable)
    else:
        own = sorted(lang for lang in trainable if counts[lang] >= min_examples_per_language)
        if len([lang for lang in counts if lang != UND]) <= 1:
            own = []
    shared = [lang for lang in counts if lang not in own]
    return LanguagePlan(strategy, counts, own, shared)


def train_by_language(
    config: NlpopsConfig,
    train: Dataset,
    test: Dataset | None,
    out: Path | str,
    name: str | None = None,
    strategy: str | None = None,
    *,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Bundle:
    """Train under a language strategy: one multilingual bundle, or a model set (runtime ``router``).

    Args:
        config: the whole config; ``config.languages`` gives the default strategy and the threshold.
        train: training data (language column optional: detected when missing).
        test: held-out data, or None.
        out: the bundle directory to create.
        name: model name (default ``config.name``).
        strategy: ``per-language``, ``multilingual`` or ``auto`` (default ``config.languages.strategy``).
        overwrite: replace an existing bundle at ``out``.
        progress: called with short progress messages.

    Returns:
        The verified bundle: a plain bundle (multilingual) or a model set.

    Raises:
        ConfigError: unknown strategy.
        DataError / FamilyError / BundleError: as :func:`nlpops.families.build_bundle`.
    """
    strategy = strategy or config.languages.strategy
    step = progress or (lambda _msg: None)
    detector = _row_detector(config, train)
    if train.langs is None:
        step("detecting the language of each training row")
    train = with_languages(train, detector)
    if test is not None:
        test = with_languages(test, detector)
    if train.lang_codes is not None and train.lang_codes.renamed:
        step(f"language codes normalised: {train.lang_codes.describe()}")
    plan = plan_languages(train, strategy, config.languages.min_examples_per_language)
    extra: dict[str, Any] = {}
    if strategy == "auto" and plan.is_model_set:
        choice = choose_strategy(config, train, plan, name or config.name, progress=progress)
        extra["strategy_choice"] = choice
        step(f"strategy auto: {choice['strategy']} ({choice['reason']})")
        if choice["strategy"] == "multilingual":
            plan = replace(plan, own=[], shared=list(plan.counts))
    if not plan.is_model_set:
        step(f"strategy {strategy}: one multilingual model for {', '.join(plan.counts) or 'all languages'}")
        return build_bundle(
            config, train, test, out, name=name, overwrite=overwrite, progress=progress, extra_metrics=extra
        )
    step(f"strategy {strategy}: own models for {', '.join(plan.own)}; fallback for the rest")
    return build_model_set(
        config,
        train,
        test,
        out,
        languages=plan.own,
        name=name,
        strategy=strategy,
        overwrite=overwrite,
        progress=progress,
        extra_metrics=extra,
    )


def choose_strategy(
    config: NlpopsConfig,
    train: Dataset,
    plan: LanguagePlan,
    name: str,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """``--strategy auto``: the plan's model set against one multilingual model, scored as served on held-out
    training rows (:func:`~nlpops.languages.detection.holdout_rows`); the one that serves better wins.

    The multilingual model is the set's fallback (trained on every row of the same split), so one training run
    measures both.

    Returns:
        ``{"strategy", "per-language", "multilingual", "reason", "on", "rows"}`` (``strategy_choice`` in the
        manifest); with too few rows to hold out, the plan's model set without figures.
    """
    fit_rows, held_rows = holdout_rows(train)
    fit, held = train.subset(fit_rows), train.subset(held_rows)
    own = [lang for lang in plan.own if lang in set(fit.langs or [])]
    if not held_rows or not own:
        return {"strategy": "per-language", "reason": "too few rows to hold out: not measured", "rows": 0}
    step = progress or (lambda _msg: None)
    step(f"strategy auto: measuring per-language vs multilingual on {len(held)} held-out rows")
    work = Path(tempfile.mkdtemp(prefix="nlpops-auto-"))
    try:
        candidate = build_model_set(config, fit, held, work / "set", languages=own, name=name, progress=progress)
        figures = dict(candidate.manifest.metrics["strategies"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {**figures, "on": "held-out training rows", "rows": len(held)}


def _row_detector(config: NlpopsConfig, train: Dataset) -> LanguageDetector:
    """The detector that labels rows without a language column: py3langid, restricted to the declared
    languages when several are declared (explicitly, in ``languages.languages``).

    Raises:
        DataError: the data has no language column and a declared language is unknown to py3langid.
    """
    declared = sorted({normalize_lang(lang) for lang in config.languages.languages} - {UND})
    detector = LanguageDetector()
    if len(declared) <= 1 or train.langs is not None:
        return detector
    unknown = [lang for lang in declared if lang not in detector.known]
    if unknown:
        raise DataError(
            f'"{train.source}" has no language column, so the language of each row must be detected, but '
            f"py3langid does not know {', '.join(unknown)}. Add a lang column that names each row's language "
            f"(any ISO 639 code, such as {unknown[0]}), or leave {', '.join(unknown)} out of languages.languages."
        )
    return LanguageDetector(declared)


__all__ = [
    "STRATEGIES",
    "LanguagePlan",
    "Strategy",
    "choose_strategy",
    "plan_languages",
    "train_by_language",
    "with_languages",
]
