"""Decoding ``/v1`` inference bodies by hand (orjson, no per-request pydantic): the service's hot path.

``POST /v1/classify``, ``/v1/entities`` and ``/v1/embed`` share one body: ``{"texts": [...]}`` or
``{"text": "..."}`` and an optional ``"lang"``; each endpoint adds its own options (``return_scores`` for
classify, ``encoding`` for embed) and nothing else is allowed.

Every way a body can be wrong becomes a :class:`~nlpops.errors.RequestError` naming the field:
400 for invalid JSON, 413 for too many texts or too long a text (unless truncating), 415 for a body not
sent as ``application/json`` (or a ``+json`` type; a charset other than UTF-8 is refused too: a
cross-origin page can post ``text/plain`` without a CORS preflight), 422 otherwise.

Texts follow the one rule of :func:`nlpops.data.is_classifiable`: any non-empty string, whitespace-only
texts included, is answered; an empty string is a 422.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from nlpops.data import is_classifiable
from nlpops.errors import RequestError

ALLOWED_FIELDS = frozenset({"texts", "text", "lang", "return_scores"})
"""The fields of a classify body."""
TEXTS_FIELDS = frozenset({"texts", "text", "lang"})
"""The fields every ``/v1`` inference body may have."""
EMBED_FIELDS = TEXTS_FIELDS | {"encoding"}
"""The fields of an embed body."""
VECTOR_ENCODINGS = ("float", "base64")
"""How ``/v1/embed`` writes a vector: a list of numbers, or base64 of its little-endian float32 bytes."""


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


def content_type_of(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The value of the ``content-type`` header among ASGI ``headers`` (lower-case names), or None."""
    for name, value in headers:
        if name == b"content-type":
            return value
    return None


def check_content_type(content_type: bytes | str | None) -> None:
    """Accept ``application/json`` and ``application/<anything>+json``, with no charset or UTF-8.

    Raises:
        RequestError: 415, naming the type received.
    """
    if content_type == b"application/json":
        return  # what nearly every client sends
    text = content_type.decode("latin-1") if isinstance(content_type, bytes) else content_type
    if text is not None:
        media, *params = (part.strip() for part in text.split(";"))
        media = media.lower()
        kind, _, subtype = media.partition("/")
        charsets = [p.partition("=")[2].strip().strip('"').lower() for p in params if p.lower().startswith("charset")]
        json_type = kind == "application" and (subtype == "json" or subtype.endswith("+json"))
        if json_type and len(subtype) <= 100 and all(c in ("utf-8", "utf8") for c in charsets):
            return
    shown = "none" if text is None else repr(text[:60])
    raise RequestError(
        f'Send the body as JSON with "Content-Type: application/json" (UTF-8); got content type {shown}.', 415
    )


@dataclass(frozen=True)
class TextsRequest:
    """A decoded ``/v1/entities`` or ``/v1/embed`` request: the texts and the language hint."""

    texts: list[str]
    lang: str | None
    single: bool


@dataclass(frozen=True)
class EmbedRequest:
    """A decoded ``/v1/embed`` request: the texts, the language hint and how to write the vectors."""

    texts: list[str]
    lang: str | None
    single: bool
    encoding: str = "float"


def decode_classify(body: bytes, limits: RequestLimits) -> ClassifyRequest:
    """Decode and check a classify body: ``{"texts": [...]}`` or ``{"text": "..."}``, optional ``lang``.

    Args:
        body: the raw request body.
        limits: the per-request limits.

    Returns:
        The texts (truncated if configured), the language hint and the scores flag.

    Raises:
        RequestError: 400 invalid JSON; 413 too many/too long texts; 422 any other invalid field (the core
            checks the content type first: :func:`check_content_type`).
    """
    data, texts, lang, single = decode_texts(body, limits, ALLOWED_FIELDS)
    scores = data.get("return_scores", False)
    if not isinstance(scores, bool):
        raise RequestError(f'"return_scores" must be true or false, got {_kind(scores)}.')
    return ClassifyRequest(texts, lang, scores, single)


def decode_plain(body: bytes, limits: RequestLimits) -> TextsRequest:
    """Decode and check a body of texts only (``/v1/entities``, ``/v1/embed``).

    Raises:
        RequestError: as :func:`decode_classify`.
    """
    _data, texts, lang, single = decode_texts(body, limits, TEXTS_FIELDS)
    return TextsRequest(texts, lang, single)


def decode_embed(body: bytes, limits: RequestLimits) -> EmbedRequest:
    """Decode and check an embed body: the texts, optional ``lang`` and ``encoding`` (``float`` or ``base64``).

    Raises:
        RequestError: as :func:`decode_classify`; 422 for an unknown encoding.
    """
    data, texts, lang, single = decode_texts(body, limits, EMBED_FIELDS)
    encoding = data.get("encoding", "float")
    if encoding not in VECTOR_ENCODINGS:
        shown = f'"{encoding[:20]}"' if isinstance(encoding, str) else _kind(encoding)
        raise RequestError(f'"encoding" must be "float" or "base64", got {shown}.')
    return EmbedRequest(texts, lang, single, encoding)


def decode_texts(
    body: bytes, limits: RequestLimits, allowed: frozenset[str]
) -> tuple[dict[str, Any], list[str], str | None, bool]:
    """The part every ``/v1`` inference body shares: ``(fields, texts, lang, single)``.

    Args:
        body: the raw request body.
        limits: the per-request limits.
        allowed: every field the endpoint accepts (any other is refused with 422).

    Raises:
        RequestError: 400 invalid JSON; 413 too many/too long texts; 422 any other invalid field.
    """
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"The body is not valid JSON ({exc}). Send a JSON object.", 400) from exc
    if not isinstance(data, dict):
        raise RequestError(f'The body must be a JSON object like {{"texts": ["..."]}}, got {_kind(data)}.')
    unknown = sorted(set(data) - allowed)
    if unknown:
        order = ["texts", "text", "lang", *sorted(allowed - TEXTS_FIELDS)]
        raise RequestError(f'Unknown field "{unknown[0]}". Allowed: {", ".join(order)}.')
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
    return data, texts, lang, single


def check_text(value: Any, field: str, limits: RequestLimits) -> str:
    """``value`` as a text for the model: a non-empty string within ``serving.max_chars_per_text`` (cut if truncating).

    Raises:
        RequestError: 422 not a non-empty string; 413 too long (unless ``limits.truncate``).
    """
    if not isinstance(value, str):
        raise RequestError(f'"{field}" must be a string, got {_kind(value)}.')
    if not is_classifiable(value):
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


__all__ = [
    "ALLOWED_FIELDS",
    "EMBED_FIELDS",
    "TEXTS_FIELDS",
    "VECTOR_ENCODINGS",
    "ClassifyRequest",
    "EmbedRequest",
    "RequestLimits",
    "TextsRequest",
    "check_content_type",
    "check_text",
    "content_type_of",
    "decode_classify",
    "decode_embed",
    "decode_plain",
    "decode_texts",
]
