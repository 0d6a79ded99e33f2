"""Model sets: per-language bundles plus a fallback, written as ONE bundle (runtime ``router``).

The set's folder holds ``routing.json`` and each sub-bundle under ``models/<lang>/`` and
``models/fallback/`` (and ``models/language-id/`` when the set routes with a language classifier of its own);
the set's manifest checksums every file of every sub-bundle. The registry copies whole bundle directories, so
registering, promoting and rolling back a model set moves every language at once.

The set's metrics are its score as served (:func:`~nlpops.languages.scoring.score_model_set`: routed by
detection), with the stated-language figures and the routing beside them; its reference statistics count the
languages as the service routes the reference texts, so that serving them matches the reference.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nlpops._version import __version__
from nlpops.bundle import Bundle, BundleManifest, load_bundle, new_version, save_bundle
from nlpops.checklist import NlpopsConfig
from nlpops.data import Dataset, fingerprint
from nlpops.errors import DataError
from nlpops.families import REFERENCE_TEXTS, build_bundle
from nlpops.languages.detection import CLASSIFIER_FOLDER, DetectionChoice, choose_detection
from nlpops.languages.scoring import recommend_strategy, score_model_set
from nlpops.reference import reference_statistics
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


def systematic_sample(texts: Sequence[str], limit: int) -> list[str]:
    """Up to ``limit`` texts, evenly spaced over ``texts``, so that their language mix is the data's."""
    if len(texts) <= limit:
        return list(texts)
    return [texts[i * len(texts) // limit] for i in range(limit)]


def build_model_set(
    config: NlpopsConfig,
    train: Dataset,
    test: Dataset | None,
    out: Path | str,
    *,
    languages: Sequence[str],
    name: str | None = None,
    strategy: str = "per-language",
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    extra_metrics: dict[str, Any] | None = None,
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
        strategy: recorded in the manifest's config.
        extra_metrics: recorded in the manifest's metrics (how ``--strategy auto`` chose, for example).
        overwrite: replace an existing bundle at ``out``.
        progress: called with short progress messages.

    Returns:
        The verified model set bundle (runtime ``router``).

    Routing by detection is calibrated on held-out training rows (:func:`~nlpops.languages.detection.
    choose_detection`): py3langid or a language classifier of the set's own, whichever routes better.

    Raises:
        DataError: ``train`` has no language column, or a routed language has no training rows.
        FamilyError / BundleError: training or writing a sub-bundle failed.
    """
    step = progress or (lambda _msg: None)
    name = name or config.name
    out = Path(out)
    if train.langs is None:
        raise DataError(
            "A model set needs a language per training row. Add a lang column to the data, or train one model for "
            "every language: --strategy multilingual."
        )
    routed = sorted(dict.fromkeys(languages))
    for lang in routed:
        if not language_rows(train, lang):
            present = ", ".join(sorted(set(train.langs)))
            raise DataError(
                f'No training rows in language "{lang}" (the data has {present}). Route only languages present in '
                "the data, or add rows in it."
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.parts.", dir=out.parent))
    try:
        sub_bundles: dict[str, Bundle] = {}
        for lang in routed:
            lang_test = test.subset(language_rows(test, lang)) if test is not None else None
            step(f"language {lang}: {len(language_rows(train, lang))} training rows")
            try:
                sub_bundles[lang] = build_bundle(
                    config,
                    train.subset(language_rows(train, lang)),
                    lang_test if lang_test is not None and len(lang_test) else None,
                    work / "models" / lang,
                    name=f"{name}-{lang}",
                )
            except DataError as exc:
                raise DataError(
                    f'Language "{lang}" cannot train a model of its own: {exc.message} Or let the fallback answer '
                    f"it: --strategy auto with languages.min_examples_per_language above its "
                    f"{len(language_rows(train, lang))} rows, or --strategy multilingual."
                ) from exc
        step(f"fallback (multilingual): {len(train)} training rows")
        sub_bundles[FALLBACK] = build_bundle(config, train, test, work / "models" / FALLBACK, name=f"{name}-{FALLBACK}")
        detection = choose_detection(config, train, routed, work, name=name, progress=progress)
        if detection.classifier is None:
            shutil.rmtree(work / CLASSIFIER_FOLDER, ignore_errors=True)
        detector = detection.routing.settings()
        if detection.classifier is not None:
            detector["model"] = CLASSIFIER_FOLDER
        step(f"routing by {detection.figures['chosen']}")
        routing = {
            "version": ROUTING_VERSION,
            "routes": {lang: f"models/{lang}" for lang in routed},
            "fallback": f"models/{FALLBACK}",
            "detector": detector,
        }
        (work / ROUTING_FILE).write_text(json.dumps(routing, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        labels = union_labels(
            [sub_bundles[FALLBACK].manifest.labels, *(b.manifest.labels for b in sub_bundles.values())]
        )
        fields = _manifest_fields(config, train, test, work, sub_bundles, labels, name, strategy, detection, step)
        fields["metrics"].update(extra_metrics or {})
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
    detection: DetectionChoice,
    step: Callable[[str], None],
) -> dict[str, Any]:
    """Manifest fields of a model set: metrics on ``test`` as served, reference statistics, sub-model summary."""
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
    if test is not None and len(test):
        sample = test
        step(f"evaluating the model set on {len(test)} rows, routed by detection as served")
        metrics, routing, proba = score_model_set(predictor, test)
        metrics["test_fingerprint"] = fingerprint(test)["sha256"]
        fallback = sub_bundles[FALLBACK].manifest.metrics.get("macro_f1")
        if fallback is not None:  # the fallback is the multilingual model, trained on the same rows
            metrics["strategies"] = {**recommend_strategy(metrics["macro_f1"], float(fallback)), "on": "test"}
    else:  # no test data: the reference statistics come from the training rows, as served
        sample, metrics = train, {}
        routing = predictor.route(train.texts)
        proba = predictor.predict_proba(train.texts, routing)
    metrics["detection"] = detection.figures
    metrics["sub_models"] = {
        key: {"languages": b.manifest.languages, "macro_f1": b.manifest.metrics.get("macro_f1")}
        for key, b in sub_bundles.items()
    }
    # the language mix as the service sees it: the language whose model answers each text (und: fallback)
    reference = reference_statistics(sample.texts, proba, labels, list(routing.langs), None)
    reference["texts"] = systematic_sample(sample.texts, REFERENCE_TEXTS)
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


__all__ = ["FALLBACK", "MODELSET_FAMILY", "build_model_set", "is_model_set", "systematic_sample", "union_labels"]
