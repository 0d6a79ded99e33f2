"""Helpers of the language tests (importable: ``from language_support import ...``)."""

from __future__ import annotations

import os
from pathlib import Path

from nlpops.checklist import NlpopsConfig
from nlpops.data import Dataset

# small but real TF-IDF models: char n-grams keep Chinese and Japanese (no spaces) learnable
FAST_MODEL = {"tfidf": {"word_ngram_max": 1, "char_ngram_min": 2, "char_ngram_max": 3, "max_features": 4000}}


def fast_config(**sections: object) -> NlpopsConfig:
    """A config whose TF-IDF trains in well under a second per language."""
    return NlpopsConfig.model_validate({"model": FAST_MODEL, **sections})


def per_language_sample(dataset: Dataset, rows_per_lang: int) -> Dataset:
    """The first ``rows_per_lang`` rows of each language."""
    seen: dict[str, int] = {}
    keep = []
    for i, lang in enumerate(dataset.langs or []):
        if seen.get(lang, 0) < rows_per_lang:
            seen[lang] = seen.get(lang, 0) + 1
            keep.append(i)
    return dataset.subset(keep)


def subprocess_env(home: Path) -> dict[str, str]:
    """Environment of an ``nlpops`` subprocess: this test's registry home, one BLAS thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NLPOPS_")}
    env.update({"NLPOPS_HOME": str(home), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    return env
