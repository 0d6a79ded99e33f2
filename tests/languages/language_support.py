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


REGIONAL_RELATIVES = {"fur": "it", "lmo": "it", "scn": "it", "sc": "it", "ast": "es", "li": "nl", "szl": "pl"}
"""sib200_regional's languages that common detectors do not know, and the major relative each resembles
(Sardinian is written ``srd`` in the data and normalised to its ISO 639-1 code ``sc``)."""


def served_predictions(url: str, texts: list[str], lang: str | None = None) -> list[dict[str, object]]:
    """The ``/v1/classify`` predictions of a running service for ``texts`` (sent in requests of 64)."""
    import httpx

    out: list[dict[str, object]] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for start in range(0, len(texts), 64):
            body: dict[str, object] = {"texts": texts[start : start + 64]}
            if lang is not None:
                body["lang"] = lang
            response = client.post("/v1/classify", json=body)
            assert response.status_code == 200, response.text
            out.extend(response.json()["predictions"])
    return out


def macro_f1(truth: list[str], predicted: list[str]) -> float:
    """Macro-F1 over the labels that occur (as nlpops reports it)."""
    from sklearn.metrics import f1_score

    present = sorted(set(truth) | set(predicted))
    return float(f1_score(truth, predicted, labels=present, average="macro", zero_division=0))


def reached_relative(predictions: list[dict[str, object]], langs: list[str]) -> tuple[int, int]:
    """``(texts of regional languages answered by their major relative's model, texts of regional languages)``."""
    regional = [(p, lang) for p, lang in zip(predictions, langs, strict=True) if lang in REGIONAL_RELATIVES]
    return sum(p["lang"] == REGIONAL_RELATIVES[lang] for p, lang in regional), len(regional)
