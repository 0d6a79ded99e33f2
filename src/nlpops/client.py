"""A Python client for a running nlpops service: :class:`Client` and its async twin :class:`AsyncClient`.

Both keep one connection pool (keep-alive) for their lifetime; use them as context managers, or call
``close()``. A 503 (queue full, model loading) is retried after the service's ``Retry-After`` (plus up to
half of it again, so a burst of clients does not come back at the same instant), at most ``max_attempts``
times in all and never beyond ``retry_budget_s`` seconds from the first try. Every other answer is returned
or raised at once:

- :class:`~nlpops.errors.AuthError`: 401, a missing or wrong API key;
- :class:`~nlpops.errors.RequestError`: 400/404/413/415/422, the request itself is wrong (not retried);
- :class:`~nlpops.errors.OverloadedError`: still 503 when the attempts or the budget ran out;
- :class:`~nlpops.errors.ServingError`: unreachable, timed out (``timeout_s``), or another status.

Each error carries the service's message. ``synthetic=True`` marks every request as synthetic traffic
(``x-nlpops-synthetic: 1``): the service counts it apart and leaves it out of drift statistics
(``nlpops loadtest`` sends it).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from nlpops.errors import AuthError, OverloadedError, RequestError, ServingError

SYNTHETIC_HEADER = "x-nlpops-synthetic"
"""The header that marks a request as synthetic traffic (the service reads the same name)."""

Json = dict[str, Any]


class _Policy:
    """What the sync and async clients share: headers, request bodies, the retry decision, error mapping."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        timeout_s: float,
        max_attempts: int,
        retry_budget_s: float,
        synthetic: bool,
        rng: Callable[[], float],
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ServingError(
                f'"{url}" is not an http(s) URL. Give the service\'s base URL, e.g. http://127.0.0.1:8000'
            )
        if max_attempts < 1 or retry_budget_s < 0 or timeout_s <= 0:
            raise ServingError(
                f"max_attempts must be >= 1, retry_budget_s >= 0 and timeout_s > 0; got {max_attempts}, "
                f"{retry_budget_s} and {timeout_s}."
            )
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.retry_budget_s = retry_budget_s
        self.rng = rng
        self.headers: dict[str, str] = {}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        if synthetic:
            self.headers[SYNTHETIC_HEADER] = "1"

    def retry_after(self, response: httpx.Response, attempt: int, started: float, now: float) -> float | None:
        """Seconds to wait before trying again, or None: answer (or raise) now."""
        if response.status_code != 503 or attempt >= self.max_attempts:
            return None
        wait = _retry_after_s(response.headers.get("retry-after"), now_epoch=time.time())
        wait *= 1.0 + 0.5 * self.rng()
        if now - started + wait > self.retry_budget_s:
            return None
        return wait

    def answer(self, response: httpx.Response, endpoint: str) -> Any:
        """The JSON of a 200, else the error its status stands for."""
        status = response.status_code
        if status == 200:
            return response.json()
        message = _error_message(response)
        if status == 401:
            raise AuthError(f"{endpoint}: {message} Pass the service's API key (api_key=..., --api-key).")
        if status == 503:
            raise OverloadedError(f"{endpoint}: {message} (still 503 after the retries the client allows)")
        if 400 <= status < 500:
            raise RequestError(f"{endpoint}: {message}", status)
        error = ServingError(f"{endpoint} answered HTTP {status}: {message}")
        error.http_status = status
        raise error

    def transport_error(self, exc: httpx.HTTPError, endpoint: str) -> ServingError:
        if isinstance(exc, httpx.TimeoutException):
            return ServingError(
                f"{endpoint} did not answer within {self.timeout_s:g} s. Retry, or allow more time "
                "(timeout_s=...; nlpops predict --timeout-s)."
            )
        return ServingError(
            f"Cannot reach {endpoint}: {exc or type(exc).__name__}. Is the service running (nlpops serve)?"
        )


def classify_body(texts: str | Sequence[str], lang: str | None, return_scores: bool) -> Json:
    """The ``/v1/classify`` body for one text or a list of texts."""
    body: Json = {"text": texts} if isinstance(texts, str) else {"texts": list(texts)}
    if lang is not None:
        body["lang"] = lang
    if return_scores:
        body["return_scores"] = True
    return body


def embed_body(texts: str | Sequence[str], lang: str | None, encoding: str) -> Json:
    """The ``/v1/embed`` body for one text or a list of texts."""
    body: Json = {"text": texts} if isinstance(texts, str) else {"texts": list(texts)}
    if lang is not None:
        body["lang"] = lang
    body["encoding"] = encoding
    return body


def decode_vectors(answer: Json) -> Json:
    """A ``/v1/embed`` answer with each prediction's ``vector`` as a float32 array, whatever its encoding, and
    ``vectors``: all of them, shape ``(n, dim)``."""
    import base64

    import numpy as np

    base64_encoded = answer.get("encoding") == "base64"
    for prediction in answer["predictions"]:
        raw = prediction["vector"]
        prediction["vector"] = (
            np.frombuffer(base64.b64decode(raw), dtype="<f4").astype(np.float32)
            if base64_encoded
            else np.asarray(raw, dtype=np.float32)
        )
    dim = int(answer.get("dim", 0))
    answer["vectors"] = np.stack([p["vector"] for p in answer["predictions"]]).reshape(-1, dim)
    return answer


def _retry_after_s(value: str | None, *, now_epoch: float) -> float:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date (1 s when absent or unreadable)."""
    if value is None:
        return 1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now_epoch)
    except (TypeError, ValueError):
        return 1.0


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        return str(error["message"] if isinstance(error, dict) else error)
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


class Client:
    """A client for a running nlpops service (one connection pool, reused).

    Args:
        url: the service's base URL, e.g. ``http://127.0.0.1:8000``.
        api_key: sent as ``Authorization: Bearer KEY``.
        timeout_s: the timeout of each attempt (connect, read, write).
        max_attempts: attempts in all when the service answers 503 (1: never retry).
        retry_budget_s: no retry starts later than this many seconds after the first attempt.
        synthetic: mark every request as synthetic traffic (load tests).
        max_connections: the most connections the pool opens.
        rng: returns a float in [0, 1): the share of extra wait (jitter) after ``Retry-After``.
        transport: an httpx transport (tests, proxies); default: the network.

    Raises:
        ServingError: a URL that is not http(s), or limits out of range.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        max_attempts: int = 5,
        retry_budget_s: float = 30.0,
        synthetic: bool = False,
        max_connections: int = 100,
        rng: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._policy = _Policy(url, api_key, timeout_s, max_attempts, retry_budget_s, synthetic, rng)
        self._http = httpx.Client(
            base_url=self._policy.url,
            headers=self._policy.headers,
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def classify(self, texts: str | Sequence[str], *, lang: str | None = None, return_scores: bool = False) -> Json:
        """Classify one text or a list of texts.

        Args:
            texts: a text or a list of texts.
            lang: a language hint (echoed; routes every text of a model set).
            return_scores: add every label's probability (``scores``).

        Returns:
            The answer: ``{"model", "version", "predictions": [{"label", "score", "lang"[, "scores"]}]}``; a model
            set's predictions also carry ``detected_lang`` and ``lang_confidence`` (``lang`` is then the language
            whose model answered, ``und`` for its fallback).

        Raises:
            AuthError, RequestError, OverloadedError, ServingError: see the module docstring.
        """
        return dict(self._request("POST", "/v1/classify", classify_body(texts, lang, return_scores)))

    def embed(self, texts: str | Sequence[str], *, lang: str | None = None, encoding: str = "base64") -> Json:
        """Embed one text or a list of texts (an embedding model's ``POST /v1/embed``).

        Args:
            texts: a text or a list of texts.
            lang: a language hint (echoed).
            encoding: how the vectors travel: ``base64`` (float32 bytes, the fewest) or ``float`` (JSON numbers).

        Returns:
            The answer ``{"model", "version", "dim", "encoding", "predictions": [{"vector", "lang"}]}`` with each
            ``vector`` a float32 array, and ``vectors``: all of them as one ``(n, dim)`` float32 array.

        Raises:
            AuthError, RequestError, OverloadedError, ServingError: see the module docstring (409, the model is
            not an embedding model: ServingError with the service's one-line reason).
        """
        return decode_vectors(dict(self._request("POST", "/v1/embed", embed_body(texts, lang, encoding))))

    def models(self) -> list[Json]:
        """The models the service serves (``GET /v1/models``)."""
        return list(self._request("GET", "/v1/models")["models"])

    def health(self) -> bool:
        """Whether the service is alive (``GET /healthz`` answers 200); False when unreachable."""
        return self._probe("/healthz")

    def ready(self) -> bool:
        """Whether the service is ready to answer (``GET /readyz`` answers 200); False when unreachable."""
        return self._probe("/readyz")

    def _probe(self, path: str) -> bool:
        try:
            return self._http.get(path).status_code == 200
        except httpx.HTTPError:
            return False

    def _request(self, method: str, path: str, body: Json | None = None) -> Any:
        policy = self._policy
        endpoint = policy.url + path
        started = time.monotonic()
        attempt = 1
        while True:
            try:
                response = self._http.request(method, path, json=body)
            except httpx.HTTPError as exc:
                raise policy.transport_error(exc, endpoint) from exc
            wait = policy.retry_after(response, attempt, started, time.monotonic())
            if wait is None:
                return policy.answer(response, endpoint)
            time.sleep(wait)
            attempt += 1


class AsyncClient:
    """The async twin of :class:`Client` (same arguments, same methods, awaited)."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        max_attempts: int = 5,
        retry_budget_s: float = 30.0,
        synthetic: bool = False,
        max_connections: int = 100,
        rng: Callable[[], float] = random.random,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._policy = _Policy(url, api_key, timeout_s, max_attempts, retry_budget_s, synthetic, rng)
        self._http = httpx.AsyncClient(
            base_url=self._policy.url,
            headers=self._policy.headers,
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def classify(
        self, texts: str | Sequence[str], *, lang: str | None = None, return_scores: bool = False
    ) -> Json:
        """Classify one text or a list of texts (see :meth:`Client.classify`)."""
        return dict(await self._request("POST", "/v1/classify", classify_body(texts, lang, return_scores)))

    async def embed(self, texts: str | Sequence[str], *, lang: str | None = None, encoding: str = "base64") -> Json:
        """Embed one text or a list of texts (see :meth:`Client.embed`)."""
        return decode_vectors(dict(await self._request("POST", "/v1/embed", embed_body(texts, lang, encoding))))

    async def models(self) -> list[Json]:
        """The models the service serves (``GET /v1/models``)."""
        return list((await self._request("GET", "/v1/models"))["models"])

    async def health(self) -> bool:
        """Whether the service is alive (``GET /healthz`` answers 200); False when unreachable."""
        return await self._probe("/healthz")

    async def ready(self) -> bool:
        """Whether the service is ready to answer (``GET /readyz`` answers 200); False when unreachable."""
        return await self._probe("/readyz")

    async def _probe(self, path: str) -> bool:
        try:
            return (await self._http.get(path)).status_code == 200
        except httpx.HTTPError:
            return False

    async def _request(self, method: str, path: str, body: Json | None = None) -> Any:
        policy = self._policy
        endpoint = policy.url + path
        started = time.monotonic()
        attempt = 1
        while True:
            try:
                response = await self._http.request(method, path, json=body)
            except httpx.HTTPError as exc:
                raise policy.transport_error(exc, endpoint) from exc
            wait = policy.retry_after(response, attempt, started, time.monotonic())
            if wait is None:
                return policy.answer(response, endpoint)
            await asyncio.sleep(wait)
            attempt += 1


__all__ = ["SYNTHETIC_HEADER", "AsyncClient", "Client", "classify_body"]
