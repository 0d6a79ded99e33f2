"""Encoding answers (orjson, by hand: the hot path): the ``/v1`` documents and the error document.

An encoder turns what the core computed (:class:`~nlpops.serve.core.Prediction`) into response bytes; a new
endpoint or protocol brings its own encoder (and its own error document, if its protocol defines one). The
serving layer's per-task piece is here: ``/v1/classify`` writes a classifier's best label or a multi-label
model's labels above their thresholds, ``/v1/entities`` spans, ``/v1/embed`` vectors.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from nlpops.tasks import Spans, label_decisions

if TYPE_CHECKING:
    from nlpops.serve.core import Prediction
    from nlpops.serve.decode import ClassifyRequest, EmbedRequest, TextsRequest
    from nlpops.serve.source import LoadedModel

ERROR_CODES = {
    400: "invalid_json",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "wrong_task",
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


def _langs(prediction: Prediction[Any]) -> list[str | None]:
    if prediction.routing is not None:
        return list(prediction.routing.langs)
    return [prediction.lang] * len(prediction.request.texts)


def _document(prediction: Prediction[Any], predictions: list[dict[str, Any]]) -> bytes:
    model = prediction.model
    return orjson.dumps({"model": model.name, "version": model.version, "predictions": predictions})


def encode_classify(prediction: Prediction[ClassifyRequest]) -> bytes:
    """The ``POST /v1/classify`` answer: ``{"model", "version", "predictions": [...]}``.

    A classifier's prediction is ``{"label", "score", "lang"}``; a multi-label model's is ``{"labels":
    [{"label", "score"}, ...], "lang"}``: every label whose probability reaches its threshold, most probable
    first (possibly none). ``"scores"`` (every label's probability) is added on request. A model set's
    predictions say which model answered (``lang``: its language, ``und``: the fallback) and, apart from it, what
    detection found: ``detected_lang`` and ``lang_confidence`` (both null where the request stated ``lang``).

    Args:
        prediction: the model's answer to one decoded classify request.
    """
    if prediction.task == "multilabel":
        return _encode_multilabel(prediction)
    labels = prediction.labels
    proba = prediction.proba
    routing = prediction.routing
    lang = prediction.lang
    with_scores = prediction.request.return_scores
    predictions: list[dict[str, Any]] = []
    for row, (index, score) in enumerate(zip(prediction.best, prediction.top, strict=True)):
        item: dict[str, Any] = {"label": labels[index], "score": score}
        if routing is None:
            item["lang"] = lang
        else:
            item["lang"] = routing.langs[row]
            item["detected_lang"] = routing.detected[row]
            item["lang_confidence"] = routing.confidence[row]
        if with_scores:
            item["scores"] = dict(zip(labels, proba[row].tolist(), strict=True))
        predictions.append(item)
    model = prediction.model
    return orjson.dumps({"model": model.name, "version": model.version, "predictions": predictions})


def _encode_multilabel(prediction: Prediction[ClassifyRequest]) -> bytes:
    labels = prediction.labels
    proba = prediction.proba
    thresholds = prediction.thresholds
    chosen = label_decisions(proba, thresholds if thresholds is not None else [0.5] * len(labels))
    with_scores = prediction.request.return_scores
    predictions: list[dict[str, Any]] = []
    for row, (mask, lang) in enumerate(zip(chosen, _langs(prediction), strict=True)):
        scores = proba[row]
        columns = sorted(np.flatnonzero(mask).tolist(), key=lambda i: -scores[i])
        item: dict[str, Any] = {
            "labels": [{"label": labels[i], "score": float(scores[i])} for i in columns],
            "lang": lang,
        }
        if with_scores:
            item["scores"] = dict(zip(labels, scores.tolist(), strict=True))
        predictions.append(item)
    return _document(prediction, predictions)


def encode_entities(prediction: Prediction[TextsRequest]) -> bytes:
    """The ``POST /v1/entities`` answer: ``{"model", "version", "predictions": [{"entities": [{"start", "end",
    "label", "text", "score"}], "lang"}]}``; offsets are characters of the text as sent, end exclusive."""
    spans: Spans = prediction.output  # type: ignore[assignment]
    predictions = [
        {
            "entities": [
                {"start": s.start, "end": s.end, "label": s.label, "text": text[s.start : s.end], "score": s.score}
                for s in found
            ],
            "lang": lang,
        }
        for text, found, lang in zip(prediction.request.texts, spans, _langs(prediction), strict=True)
    ]
    return _document(prediction, predictions)


def encode_embed(prediction: Prediction[EmbedRequest]) -> bytes:
    """The ``POST /v1/embed`` answer: ``{"model", "version", "dim", "encoding", "predictions": [{"vector", "lang"}]}``.

    A vector is a list of float32 numbers written in their shortest exact form (``"encoding": "float"``), or the
    base64 of its little-endian float32 bytes (``"encoding": "base64"``: ``dim x 4`` bytes, a third more in
    base64, about half the JSON numbers).
    """
    vectors = np.ascontiguousarray(prediction.output, dtype="<f4")
    langs = _langs(prediction)
    encoding = prediction.request.encoding
    values: list[Any] = (
        [base64.b64encode(vector.tobytes()).decode("ascii") for vector in vectors]
        if encoding == "base64"
        else list(vectors)
    )
    predictions = [{"vector": value, "lang": lang} for value, lang in zip(values, langs, strict=True)]
    model = prediction.model
    dim = int(vectors.shape[1]) if vectors.ndim == 2 else 0
    document = {"model": model.name, "version": model.version, "dim": dim, "encoding": encoding}
    return orjson.dumps({**document, "predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY)


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
                "task": manifest.task,
                "labels": list(model.predictor.labels),
                "languages": list(manifest.languages),
            }
        )
    return orjson.dumps({"models": models})


__all__ = ["ERROR_CODES", "encode_classify", "encode_embed", "encode_entities", "error_document", "models_document"]
