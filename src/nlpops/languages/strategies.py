"""Training strategies for multilingual data: ``per-language``, ``multilingual`` and ``auto``.

- ``multilingual``: one bundle for all languages (a plain bundle).
- ``per-language``: one model per language (every language with enough label variety to train), plus a
  multilingual fallback for unknown languages: a model set.
- ``auto``: languages with at least ``languages.min_examples_per_language`` training rows get their own model;
  the rest share the multilingual fallback. When no language (or only the data's single language) qualifies,
  the result is one multilingual bundle.

Languages come from the dataset's language column, or are detected when it has none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, TypedDict

from nlpops.bundle import Bundle
from nlpops.checklist import NlpopsConfig
from nlpops.data import Dataset
from nlpops.errors import ConfigError
from nlpops.families import build_bundle
from nlpops.languages.modelset import build_model_set
from nlpops.runtimes.langid import UND, LanguageDetector

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
    """``dataset`` with a language per row: its own column, or detected when it has none."""
    if dataset.langs is not None:
        return dataset
    detector = detector or LanguageDetector()
    return replace(dataset, langs=detector.detect_many(dataset.texts))


def plan_languages(train: Dataset, strategy: str, min_examples_per_language: int) -> LanguagePlan:
    """Decide which languages get their own model.

    Raises:
        ConfigError: unknown strategy.
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f'Unknown language strategy "{strategy}". Use one of: {", ".join(STRATEGIES)}.')
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
    declared = [lang for lang in config.languages.languages if lang != UND]
    detector = LanguageDetector(declared) if len(declared) > 1 else LanguageDetector()
    if train.langs is None:
        step("detecting the language of each training row")
    train = with_languages(train, detector)
    if test is not None:
        test = with_languages(test, detector)
    plan = plan_languages(train, strategy, config.languages.min_examples_per_language)
    if not plan.is_model_set:
        step(f"strategy {strategy}: one multilingual model for {', '.join(plan.counts) or 'all languages'}")
        return build_bundle(config, train, test, out, name=name, overwrite=overwrite, progress=progress)
    step(f"strategy {strategy}: own models for {', '.join(plan.own)}; fallback for the rest")
    data_languages = sorted(set(plan.counts) - {UND})
    return build_model_set(
        config,
        train,
        test,
        out,
        languages=plan.own,
        name=name,
        detector=LanguageDetector(data_languages, **_detector_options(detector)),
        strategy=strategy,
        overwrite=overwrite,
        progress=progress,
    )


class _DetectorOptions(TypedDict):
    min_confidence: float
    min_letters: int
    foreign_confidence: float


def _detector_options(detector: LanguageDetector) -> _DetectorOptions:
    return {
        "min_confidence": detector.min_confidence,
        "min_letters": detector.min_letters,
        "foreign_confidence": detector.foreign_confidence,
    }


__all__ = ["STRATEGIES", "LanguagePlan", "Strategy", "plan_languages", "train_by_language", "with_languages"]
