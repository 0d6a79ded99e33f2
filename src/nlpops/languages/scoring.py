"""One honest score for a model set: routed the way the service routes it.

Every figure nlpops prints for a model set (training output, ``nlpops evaluate``, the registry's metrics,
``compare-languages``) comes from :func:`score_model_set`: texts are routed by detection, as a service routes
requests that state no ``lang``. When the data has a language column, the same model set is also scored with
each text routed by its stated language (what a client that sends ``lang`` gets), labelled
``routed_by_stated_lang``, and the routing is measured against the stated languages (``routing``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nlpops.data import Dataset
from nlpops.errors import ConfigError
from nlpops.language_codes import UND
from nlpops.languages.detection import routing_figures
from nlpops.metrics import classification_report
from nlpops.runtimes import Predictor, RoutingDecision

ROUTED_BY_DETECTION = "detection"
"""``metrics["routed_by"]``: the headline figures route every text by detection, as the service does."""
CLOSE_CALL = 0.005
"""Macro-F1 gap under which the strategies count as equal and the cheaper one (multilingual) is recommended."""


def _predicted(predictor: Predictor, proba: np.ndarray) -> list[str]:
    labels = predictor.labels
    return [labels[i] for i in np.asarray(proba).argmax(axis=1)]


def score_model_set(predictor: Predictor, data: Dataset) -> tuple[dict[str, Any], RoutingDecision, np.ndarray]:
    """Classification metrics of a model set on ``data``, routed by detection (the headline, as served).

    Args:
        predictor: a model set (its :meth:`~nlpops.runtimes.Predictor.route` decides).
        data: labelled data; with a language column, the stated-language figures and the routing are added.

    Returns:
        ``(metrics, routing, proba)``: :func:`~nlpops.metrics.classification_report` (per language by the data's
        languages) plus ``routed_by``, ``routed_by_stated_lang`` (``accuracy``, ``macro_f1``, ``per_language``)
        and ``routing`` (:func:`~nlpops.languages.detection.routing_figures`) when the data states languages;
        the routing by detection of every text; the probabilities as served.

    Raises:
        ConfigError: ``predictor`` is a single model.
    """
    routing = predictor.route(data.texts)
    if routing is None:
        raise ConfigError(
            f'Model "{predictor.manifest.name}" is a single model, not a model set: nothing is routed. '
            "Evaluate it with nlpops evaluate."
        )
    labels = predictor.labels
    proba = np.asarray(predictor.predict_proba(data.texts, routing))
    metrics = classification_report(data.labels, _predicted(predictor, proba), labels, data.langs)
    metrics["routed_by"] = ROUTED_BY_DETECTION
    if data.langs is not None:
        stated = predictor.route(data.texts, data.langs)
        assert stated is not None  # a model set routes
        predicted = _predicted(predictor, predictor.predict_proba(data.texts, stated))
        by_stated = classification_report(data.labels, predicted, labels, data.langs)
        metrics["routed_by_stated_lang"] = {
            "accuracy": by_stated["accuracy"],
            "macro_f1": by_stated["macro_f1"],
            "per_language": by_stated.get("per_language", {}),
        }
        # a stated language reaches its own model when it has one, else the fallback (und)
        routes = {lang for lang, routed in zip(data.langs, stated.langs, strict=True) if lang == routed != UND}
        metrics["routing"] = routing_figures(routing.langs, data.langs, routes)
    return metrics, routing, proba


def recommend_strategy(per_language: float, multilingual: float) -> dict[str, Any]:
    """The strategy that serves better, from both strategies' macro-F1 as served on the same held-out data.

    A gap under :data:`CLOSE_CALL` is a tie, and the tie goes to ``multilingual``: one model costs less
    memory, disk and latency than a set.

    Returns:
        ``{"strategy", "per-language", "multilingual", "reason"}``.
    """
    gap = per_language - multilingual
    strategy = "per-language" if gap >= CLOSE_CALL else "multilingual"
    if abs(gap) < CLOSE_CALL:
        reason = f"macro-F1 within {CLOSE_CALL} ({per_language:.3f} vs {multilingual:.3f}): one model costs less"
    else:
        better, worse = max(per_language, multilingual), min(per_language, multilingual)
        reason = f"macro-F1 {better:.3f} against {worse:.3f}, both as served: the set routed by detection"
    return {"strategy": strategy, "per-language": per_language, "multilingual": multilingual, "reason": reason}


def strategy_figures(metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    """A bundle's measured per-language vs multilingual figures, when its manifest has them: the choice of
    ``--strategy auto`` (``strategy_choice``) or a model set's own comparison with its fallback
    (``strategies``); None otherwise. The advisor reads these."""
    found = metrics.get("strategy_choice") or metrics.get("strategies")
    return dict(found) if isinstance(found, Mapping) else None


__all__ = [
    "CLOSE_CALL",
    "ROUTED_BY_DETECTION",
    "recommend_strategy",
    "score_model_set",
    "strategy_figures",
]
