"""Routing by detection, calibrated: which identifier a model set routes with, and the thresholds it needs.

Two identifiers are measured on the same held-out rows of the set's training data: py3langid over every
language it knows (``py3langid.v2``), and a small language classifier trained on the set's own training texts
(``classifier.v1``: TF-IDF over characters and words; it knows languages py3langid has never heard of, such as
regional relatives of a major language). For each, every routed language gets the lowest threshold at which
the held-out texts it would send to that language's model are at least :data:`ROUTING_PRECISION` of that
language (no threshold reaches it: the language is never routed by detection, its texts reach the fallback).
The identifier whose calibrated routing sends more held-out texts to the right model (their language's, or
the fallback for a language without one) is kept; the choice and both sets of figures go into the manifest.

Held-out rows are chosen by position within each language (every row whose position hashes into the held-out
fifth), so that in parallel data (row k the same sentence in every language) no translation of a held-out
sentence is trained on.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.checklist import NlpopsConfig
from nlpops.data import Dataset
from nlpops.families import build_bundle
from nlpops.language_codes import UND
from nlpops.runtimes import load_predictor
from nlpops.runtimes.langid import LanguageDetector
from nlpops.runtimes.routing import ClassifierIdentifier, Identified, Identifier, LanguageRouting, Py3langidIdentifier

ROUTING_PRECISION = 0.95
"""Share of the texts detection sends to a language's model that must be of that language (held out)."""
MIN_THRESHOLD = 0.5
"""No language is routed by detection below this probability."""
HOLDOUT_FOLDS = 5
"""One position in this many (per language) is held out."""
MIN_ROWS_TO_HOLD_OUT = 10
"""Languages with fewer training rows keep them all for training."""
CLASSIFIER_FOLDER = "models/language-id"
CLASSIFIER_MODEL = {
    "family": "tfidf",
    "tfidf": {"word_ngram_max": 1, "char_ngram_min": 1, "char_ngram_max": 3, "max_features": 5000, "c": 10.0},
}
"""The language classifier: character 1-3-grams and words, 5 000 of each (2-4 s on 7 700 texts)."""


def holdout_rows(dataset: Dataset) -> tuple[list[int], list[int]]:
    """``(fit, held_out)`` row indices: per language, the positions that hash into one fold of
    :data:`HOLDOUT_FOLDS` are held out (languages with fewer than :data:`MIN_ROWS_TO_HOLD_OUT` rows: none)."""
    langs = dataset.langs or [UND] * len(dataset)
    sizes = Counter(langs)
    seen: Counter[str] = Counter()
    fit: list[int] = []
    held: list[int] = []
    for i, lang in enumerate(langs):
        position = seen[lang]
        seen[lang] += 1
        out = sizes[lang] >= MIN_ROWS_TO_HOLD_OUT and zlib.crc32(str(position).encode()) % HOLDOUT_FOLDS == 0
        (held if out else fit).append(i)
    return fit, held


def calibrate_thresholds(
    identified: Identified, truth: Sequence[str], routes: Collection[str]
) -> dict[str, float | None]:
    """Per routed language, the threshold at which the held-out texts detected as that language are at least
    :data:`ROUTING_PRECISION` of it, routing as many as possible: halfway between the least sure detection it
    still routes and the next one, or :data:`MIN_THRESHOLD` when every detection (down to it) may be routed.
    None when no threshold reaches the precision (the detector cannot tell the language from others);
    :data:`MIN_THRESHOLD` when no held-out text is of that language (nothing to calibrate on)."""
    thresholds: dict[str, float | None] = {}
    for lang in sorted(routes):
        if lang not in truth:
            thresholds[lang] = MIN_THRESHOLD
            continue
        rows = sorted(
            ((p, t == lang) for (found, p), t in zip(identified, truth, strict=True) if found == lang and p >= 0),
            key=lambda row: -row[0],  # most confident first
        )
        rows = [row for row in rows if row[0] >= MIN_THRESHOLD]
        probabilities = np.asarray([p for p, _ in rows], dtype=np.float64)
        precision = np.cumsum([ok for _, ok in rows], dtype=np.float64) / np.arange(1, len(rows) + 1)
        last: int | None = None  # the last row (most routed) a threshold can stop at with enough precision
        for k in range(len(rows)):
            tied = k + 1 < len(rows) and probabilities[k + 1] == probabilities[k]
            if not tied and precision[k] >= ROUTING_PRECISION:
                last = k
        if last is None:
            thresholds[lang] = None
        elif last + 1 == len(rows):
            thresholds[lang] = MIN_THRESHOLD
        else:
            thresholds[lang] = float((probabilities[last] + probabilities[last + 1]) / 2)
    return thresholds


def routing_figures(routed: Sequence[str], truth: Sequence[str], routes: Collection[str]) -> dict[str, Any]:
    """How well routing did against the true languages: ``accuracy`` (share of texts that reached the right
    model: their language's, or the fallback when it has none) and ``per_language``: per true language its
    ``rows``, ``accuracy`` and ``reached`` (texts per model that answered them; ``und`` is the fallback)."""
    per_language: dict[str, Any] = {}
    correct = 0
    for lang in sorted(set(truth)):
        reached = Counter(r for r, t in zip(routed, truth, strict=True) if t == lang)
        right = reached.get(lang if lang in routes else UND, 0)
        correct += right
        rows = sum(reached.values())
        per_language[lang] = {"rows": rows, "accuracy": right / rows, "reached": dict(sorted(reached.items()))}
    return {"accuracy": correct / len(truth) if truth else 0.0, "per_language": per_language}


@dataclass(frozen=True)
class DetectionChoice:
    """The routing a model set keeps, and the evidence.

    Attributes:
        routing: the calibrated routing (identifier and thresholds).
        classifier: the language classifier's bundle folder when it was kept, else None.
        figures: ``{"chosen", "calibrated_on", "rows", "precision_target", "candidates": {name: {"routing_accuracy",
            "per_language", "thresholds"}}}`` (recorded in the manifest's metrics as ``detection``).
    """

    routing: LanguageRouting
    classifier: Path | None
    figures: dict[str, Any]


def choose_detection(
    config: NlpopsConfig,
    train: Dataset,
    routes: Sequence[str],
    work: Path,
    *,
    name: str,
    progress: Callable[[str], None] | None = None,
) -> DetectionChoice:
    """Calibrate py3langid and a language classifier of the set's own on held-out rows of ``train``; keep the one
    that routes better.

    Args:
        config: the whole config (the classifier's settings are fixed: :data:`CLASSIFIER_MODEL`).
        train: the set's training data, a language per row.
        routes: the languages with their own model.
        work: the model set's folder being built (the classifier goes to :data:`CLASSIFIER_FOLDER` in it).
        name: the model set's name (the classifier is ``NAME-language-id``).
        progress: called with short progress messages.
    """
    step = progress or (lambda _msg: None)
    known = train.subset([i for i, lang in enumerate(train.langs or []) if lang != UND])
    fit_rows, held_rows = holdout_rows(known)
    fit = known.subset(fit_rows)
    held = known.subset(held_rows) if held_rows else fit
    truth = list(held.langs or [])
    candidates: dict[str, tuple[Identifier, Path | None]] = {"py3langid.v2": (_py3langid(), None)}
    trainable = [lang for lang, n in Counter(fit.langs or []).items() if n >= 2]
    if len(trainable) >= 2:
        step(f"training a language classifier on {len(fit)} rows")
        folder = work / CLASSIFIER_FOLDER
        classifier = _train_classifier(config, fit, folder, name)
        candidates["classifier.v1"] = (classifier, folder)
    figures: dict[str, Any] = {}
    routings: dict[str, LanguageRouting] = {}
    for key, (identifier, _) in candidates.items():
        step(f"calibrating {key} on {len(held)} held-out rows")
        identified = identifier.identify(held.texts)
        routing = LanguageRouting(identifier, calibrate_thresholds(identified, truth, routes), MIN_THRESHOLD)
        routed = [routing.route_of(lang, p, routes) for lang, p in identified]
        scored = routing_figures(routed, truth, routes)
        routings[key] = routing
        figures[key] = {
            "routing_accuracy": scored["accuracy"],
            "per_language": scored["per_language"],
            "thresholds": dict(sorted(routing.thresholds.items())),
        }
    # ties go to py3langid (no model to ship); the classifier must route strictly better
    chosen = max(routings, key=lambda key: (figures[key]["routing_accuracy"], key == "py3langid.v2"))
    return DetectionChoice(
        routings[chosen],
        candidates[chosen][1],
        {
            "chosen": chosen,
            "calibrated_on": "held-out training rows" if held_rows else "training rows (too few to hold out)",
            "rows": len(held),
            "precision_target": ROUTING_PRECISION,
            "candidates": figures,
        },
    )


def _py3langid() -> Py3langidIdentifier:
    return Py3langidIdentifier(LanguageDetector(None, min_confidence=0.0))


def _train_classifier(config: NlpopsConfig, fit: Dataset, folder: Path, name: str) -> ClassifierIdentifier:
    langs = list(fit.langs or [])
    data = Dataset(list(fit.texts), langs, None, f"{fit.source} (languages)")
    model_config = config.model_copy(update={"model": config.model.model_validate(CLASSIFIER_MODEL)})
    bundle = build_bundle(model_config, data, None, folder, name=f"{name}-language-id")
    return ClassifierIdentifier(load_predictor(bundle))


__all__ = [
    "CLASSIFIER_FOLDER",
    "CLASSIFIER_MODEL",
    "MIN_THRESHOLD",
    "ROUTING_PRECISION",
    "DetectionChoice",
    "calibrate_thresholds",
    "choose_detection",
    "holdout_rows",
    "routing_figures",
]
