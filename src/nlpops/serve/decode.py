"""Decoding ``POST /v1/classify`` bodies by hand (orjson, no per-request pydantic): the service's hot path.

Every way a body can be wrong becomes a :class:`~nlpops.errors.RequestError` naming the field:
400 for invalid JSON, 413 for too many texts or too long a text (unless truncating), 422 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from nlpops.errors import RequestError

ALLOWED_FIELDS = frozenset({"texts", "text", "lang", "return_scores"})


@dataclass(frozen=True)
class RequestLimits:
    """Per-request limits (from ``serving``).

    Args:
        max_texts_per_request: most texts in one request (413 beyond).
        max_chars_per_text: most characters per text (413 beyond, or truncation).
        truncate: cut long texts to ``max_chars_per_text`` instead of answering 413.
    """

    max_texts_per_request: int = 256
    max_chars_per_text: int = 10_000
    truncate: bool = False


@dataclass(frozen=True)
class ClassifyRequest:
    """A decoded classify request."""

    texts: list[str]
    lang: str | None
    return_scores: bool
    single: bool


def decode_classify(body: bytes, limits: RequestLimits) -> ClassifyRequest:
    """Decode and check a classify body: ``{"texts": [...]}`` or ``{"text": "..."}``, optional ``lang``.

    Args:
        body: the raw request body.
        limits: the per-request limits.

    Returns:
        The texts (truncated if configured), the language hint and the scores flag.

    Raises:
        RequestError: 400 invalid JSON; 413 too many/too long texts; 422 any other invalid field.
    """
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"The body is not valid JSON ({exc}). Send a JSON object.", 400) from exc
    if not isinstance(data, dict):
        raise RequestError(f'The body must be a JSON object like {{"texts": ["..."]}}, got {_kind(data)}.')
    unknown = sorted(set(data) - ALLOWED_FIELDS)
    if unknown:
        raise RequestError(f'Unknown field "{unknown[0]}". Allowed: texts, text, lang, return_scores.')
    if ("texts" in data) == ("text" in data):
        raise RequestError('Send exactly one of "texts" (a list of strings) or "text" (one string).')
    single = "text" in data
    if single:
        texts = [check_text(data["text"], "text", limits)]
    else:
        raw = data["texts"]
        if not isinstance(raw, list):
            raise RequestError(f'"texts" must be a list of strings, got {_kind(raw)}.')
        if not raw:
            raise RequestError('"texts" is empty. Send at least one text.')
        if len(raw) > limits.max_texts_per_request:
            raise RequestError(
                f'"texts" has {len(raw)} items; the limit is {limits.max_texts_per_request} '
                "(serving.max_texts_per_request). Split the request.",
                413,
            )
        texts = [check_text(t, f"texts[{i}]", limits) for i, t in enumerate(raw)]
    lang = data.get("lang")
    if lang is not None and (not isinstance(lang, str) or not lang or len(lang) > 32):
        raise RequestError(f'"lang" must be a language code such as "en", got {_kind(lang)}.')
    scores = data.get("return_scores", False)
    if not isinstance(scores, bool):
        raise RequestError(f'"return_scores" must be true or false, got {_kind(scores)}.')
    return ClassifyRequest(texts, lang, scores, single)


def check_text(value: Any, field: str, limits: RequestLimits) -> str:
    """``value`` as a text for the model: a non-empty string within ``serving.max_chars_per_text`` (cut if truncating).

    Raises:
        RequestError: 422 not a non-empty string; 413 too long (unless ``limits.truncate``).
    """
    if not isinstance(value, str):
        raise RequestError(f'"{field}" must be a string, got {_kind(value)}.')
    if not value:
        raise RequestError(f'"{field}" is empty. Send a non-empty text.')
    if len(value) > limits.max_chars_per_text:
        if limits.truncate:
            return value[: limits.max_chars_per_text]
        raise RequestError(
            f'"{field}" has {len(value)} characters; the limit is {limits.max_chars_per_text} '
            "(serving.max_chars_per_text). Shorten it, or enable serving.truncate.",
            413,
        )
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}.get(
        type(value), "an object"
    )


__all__ = ["ALLOWED_FIELDS", "ClassifyRequest", "RequestLimits", "check_text", "decode_classify"]
