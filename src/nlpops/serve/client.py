"""A small client for the service (used by ``nlpops predict --url``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from nlpops.errors import AuthError, OverloadedError, RequestError, ServingError


def classify(
    url: str,
    texts: Sequence[str],
    *,
    api_key: str | None = None,
    timeout_s: float = 10.0,
    return_scores: bool = False,
    lang: str | None = None,
) -> dict[str, Any]:
    """Classify ``texts`` with a running service.

    Args:
        url: the service's base URL, e.g. ``http://127.0.0.1:8000``.
        texts: the texts to classify.
        api_key: sent as ``Authorization: Bearer KEY`` when given.
        timeout_s: the whole request's timeout.
        return_scores: ask for every label's probability.
        lang: optional language hint.

    Returns:
        The service's answer: ``{"model", "version", "predictions": [{"label", "score", "lang"[, "scores"]}]}``.

    Raises:
        AuthError: 401. RequestError: 400/413/422. OverloadedError: 503.
        ServingError: the service cannot be reached, times out or answers something else.
    """
    body: dict[str, Any] = {"texts": list(texts), "return_scores": return_scores}
    if lang is not None:
        body["lang"] = lang
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    endpoint = url.rstrip("/") + "/v1/classify"
    try:
        response = httpx.post(endpoint, json=body, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException as exc:
        raise ServingError(
            f"{endpoint} did not answer within {timeout_s} s. Retry, or allow more time "
            "(nlpops predict --timeout-s; timeout_s in Python)."
        ) from exc
    except httpx.HTTPError as exc:
        raise ServingError(f"Cannot reach {endpoint}: {exc}. Is the service running (nlpops serve)?") from exc
    if response.status_code == 200:
        data: dict[str, Any] = response.json()
        return data
    message = _error_message(response)
    status = response.status_code
    if status == 401:
        raise AuthError(f"{endpoint}: {message} Pass the key with --api-key.")
    if status in (400, 413, 422):
        raise RequestError(f"{endpoint}: {message}", status)
    if status == 503:
        raise OverloadedError(f"{endpoint}: {message}")
    raise ServingError(f"{endpoint} answered HTTP {status}: {message}")


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


__all__ = ["classify"]
