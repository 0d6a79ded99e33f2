"""Model sets: per-language bundles plus a fallback, written as ONE bundle (runtime ``router``).

The set's folder holds ``routing.json`` and each sub-bundle under ``models/<lang>/`` and
``models/fallback/``; the set's manifest checksums every file of every sub-bundle. The registry copies
whole bundle directories, so registering, promoting and rolling back a model set moves every language at
once.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlpops._version import __version__
from nlpops.bundle import Bundle, BundleManifest, load_bundle, new_version, save_bundle
from nlpops.checklist import NlpopsConfig
from nlpops.data import Dataset, fingerprint
from nlpops.errors import DataError
from nlpops.families import REFERENCE_TEXTS, build_bundle
from nlpops.metrics import classification_report
from nlpops.reference import reference_statistics
from nlpops.runtimes.langid import LanguageDetector
from nlpops.runtimes.router import ROUTING_FILE, ROUTING_VERSION, RouterPredictor

FALLBACK = "fallback"
MODELSET_FAMILY = "modelset"
_PY3LANGID_PIN = "py3langid>=0.4,<0.5"


def language_rows(dataset: Dataset, lang: str) -> list[int]:
    """Row indices of ``dataset`` in language ``lang`` (none when the dataset has no languages)."""
    if dataset.langs is None:
        return []
    return [i for i, x in enumerate(dataset.langs) if x == lang]


def union_labels(label_lists: Sequence[Sequence[str]]) -> list[str]:
    """Labels of all sub-models, in first-seen order."""
    return list(dict.fromkeys(label for labels in label_lists for label in labels))


def interleave_by_language(texts: Sequence[str], langs: Sequence[str], limit: int) -> list[str]:
    """Up to ``limit`` texts taken round-robin over languages, so every language has reference texts."""
    queues: dict[str, list[str]] = {}
    for text, lang in zip(texts, langs, strict=True):
        queues.setdefault(lang, []).append(text)
    out: list[str] = []
    depth = 0
    while len(out) < limit and any(depth < len(q) for q in queues.values()):
        out.extend(q[depth] for q in queues.values() if depth < len(q))
        depth += 1
    return out[:limit]


def build_model_set(
    config: NlpopsConfig,
    train: Dataset,
    test: Dataset | None,
    out: Path | str,
    *,
    languages: Sequence[str],
    name: str | None = None,
    detector: LanguageDetector | None = None,
    strategy: str = "per-language",
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Bundle:
    """Train one bundle per language in ``languages`` plus a multilingual fallback, and write them as a model set.

    Args:
        config: the whole config (the model section decides the family of every sub-model).
        train: training data with a language per row (``train.langs``).
        test: held-out data with languages (for per-language and routed metrics), or None.
        out: the model set directory to create.
        languages: the languages that get their own model; all others (and ``und``) go to the fallback,
            which is trained on all of ``train``.
        name: model name (default ``config.name``); sub-bundles are named ``NAME-LANG``.
        detector: the language detector stored in the routing file (default: py3langid over the languages
            of the training data).
        strategy: recorded in the manifest's config.
        overwrite: replace an existing bundle at ``out``.
        progress: called with short progress messages.

    Returns:
        The verified model set bundle (runtime ``router``).

    Raises:
        DataError: ``train`` has no language column, or a routed language has no training rows.
        FamilyError / BundleError: training or writing a sub-bundle failed.
    """
    step = progress or (lambda _msg: None)
    name = name or config.name
    out = Path(out)
    if train.langs is None:
        raise DataError("A model set needs a language per training row. Add a lang column or detect languages first.")
    routed = sorted(dict.fromkeys(languages))
    for lang in routed:
        if not language_rows(train, lang):
            raise DataError(f'No training rows in language "{lang}". Route only languages present in the data.')
    if detector is None:
        detector = LanguageDetector(sorted(set(train.langs) - {"und"}))
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.parts.", dir=out.parent))
    try:
        sub_bundles: dict[str, Bundle] = {}
        for lang in routed:
            lang_test = test.subset(language_rows(test, lang)) if test is not None else None
            step(f"language {lang}: {len(language_rows(train, lang))} training rows")
            sub_bundles[lang] = build_bundle(
                config,
                train.subset(language_rows(train, lang)),
                lang_test if lang_test is not None and len(lang_test) else None,
                work / "models" / lang,
                name=f"{name}-{lang}",
            )
        step(f"fallback (multilingual): {len(train)} training rows")
        sub_bundles[FALLBACK] = build_bundle(config, train, test, work / "models" / FALLBACK, name=f"{name}-{FALLBACK}")
        routing = {
            "version": ROUTING_VERSION,
            "routes": {lang: f"models/{lang}" for lang in routed},
            "fallback": f"models/{FALLBACK}",
            "detector": detector.settings(),
        }
        (work / ROUTING_FILE).write_text(json.dumps(routing, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        labels = union_labels(
            [sub_bundles[FALLBACK].manifest.labels, *(b.manifest.labels for b in sub_bundles.values())]
        )
        fields = _manifest_fields(config, train, test, work, sub_bundles, labels, name, strategy, step)
        step("writing model set")
        return save_bundle(
            out, fields, lambda staging: shutil.copytree(work, staging, dirs_exist_ok=True), overwrite=overwrite
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _manifest_fields(
    config: NlpopsConfig,
    train: Dataset,
    test: Dataset | None,
    work: Path,
    sub_bundles: dict[str, Bundle],
    labels: list[str],
    name: str,
    strategy: str,
    step: Callable[[str], None],
) -> dict[str, Any]:
    """Manifest fields of a model set: routed metrics on ``test``, reference statistics, sub-model summary."""
    draft = BundleManifest(
        name=name,
        version="draft",
        created_at="",
        family=MODELSET_FAMILY,
        runtime="router",
        labels=labels,
        runtime_options={"routing": ROUTING_FILE},
        files={ROUTING_FILE: ""},
    )
    predictor = RouterPredictor(Bundle(work, draft))
    sample = test if test is not None and len(test) else train
    step(f"evaluating the routed model set on {len(sample)} rows")
    proba, routed = predictor.predict_proba_routed(sample.texts, sample.langs)
    sample_langs = sample.langs if sample.langs is not None else routed
    metrics: dict[str, Any] = {}
    if test is not None and len(test):
        predicted = [labels[i] for i in np.asarray(proba).argmax(axis=1)]
        metrics = classification_report(test.labels, predicted, labels, sample_langs)
        metrics["test_fingerprint"] = fingerprint(test)["sha256"]
    metrics["sub_models"] = {
        key: {"languages": b.manifest.languages, "macro_f1": b.manifest.metrics.get("macro_f1")}
        for key, b in sub_bundles.items()
    }
    reference = reference_statistics(sample.texts, proba, labels, sample_langs, None)
    reference["texts"] = interleave_by_language(sample.texts, sample_langs, REFERENCE_TEXTS)
    requirements = sorted({req for b in sub_bundles.values() for req in b.manifest.requirements} | {_PY3LANGID_PIN})
    return {
        "name": name,
        "version": new_version(),
        "family": MODELSET_FAMILY,
        "runtime": "router",
        "labels": labels,
        "languages": sorted(set(train.langs or []) - {"und"}),
        "preprocessing": [],
        "metrics": metrics,
        "data": fingerprint(train),
        "reference": reference,
        "requirements": requirements,
        "config": {
            "model": config.model.model_dump(mode="json"),
            "data": config.data.model_dump(mode="json"),
            "languages": {**config.languages.model_dump(mode="json"), "strategy": strategy},
        },
        "runtime_options": {"routing": ROUTING_FILE},
        "nlpops_version": __version__,
    }


def is_model_set(bundle: Bundle | Path | str) -> bool:
    """Whether a bundle is a model set (runtime ``router``)."""
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle, verify=False)
    return bundle.manifest.runtime == "router"


__all__ = ["FALLBACK", "MODELSET_FAMILY", "build_model_set", "interleave_by_language", "is_model_set", "union_labels"]
