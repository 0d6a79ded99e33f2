"""Encoding answers (orjson, by hand: the hot path): the ``/v1`` documents and the error document.

An encoder turns what the core computed (:class:`~nlpops.serve.core.Prediction`) into response bytes; a new
endpoint or protocol brings its own encoder (and its own error document, if its protocol defines one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from nlpops.serve.core import Prediction
    from nlpops.serve.decode import ClassifyRequest
    from nlpops.serve.source import LoadedModel

ERROR_CODES = {
    400: "invalid_json",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "unavailable",
}
"""The ``error.code`` of each HTTP status (anything else: ``internal_error``)."""


def error_document(status: int, message: str) -> bytes:
    """The ``/v1`` error body: ``{"error": {"code": ..., "message": ...}}``.

    Args:
        status: the HTTP status (it picks the code).
        message: one line for the client: what went wrong and what to do.
    """
    return orjson.dumps({"error": {"code": ERROR_CODES.get(status, "internal_error"), "message": message}})


def encode_classify(prediction: Prediction[ClassifyRequest]) -> bytes:
    """The ``POST /v1/classify`` answer: ``{"model", "version", "predictions": [{"label", "score", "lang"}]}``.

    Args:
        prediction: the model's answer to one decoded classify request.
    """
    labels = prediction.labels
    proba = prediction.proba
    routed = prediction.routing.langs if prediction.routing is not None else None
    lang = prediction.lang
    with_scores = prediction.request.return_scores
    predictions: list[dict[str, Any]] = []
    for row, (index, score) in enumerate(zip(prediction.best, prediction.top, strict=True)):
        item: dict[str, Any] = {"label": labels[index], "score": score, "lang": lang if routed is None else routed[row]}
        if with_scores:
            item["scores"] = dict(zip(labels, proba[row].tolist(), strict=True))
        predictions.append(item)
    model = prediction.model
    return orjson.dumps({"model": model.name, "version": model.version, "predictions": predictions})


def models_document(model: LoadedModel | None) -> bytes:
    """The ``GET /v1/models`` answer: the live model (an empty list while it loads)."""
    models = []
    if model is not None:
        manifest = model.predictor.manifest
        models.append(
            {
                "name": model.name,
                "version": model.version,
                "bundle_version": manifest.version,
                "family": manifest.family,
                "runtime": manifest.runtime,
                "labels": list(model.predictor.labels),
                "languages": list(manifest.languages),
            }
        )
    return orjson.dumps({"models": models})


__all__ = ["ERROR_CODES", "encode_classify", "error_document", "models_document"]
