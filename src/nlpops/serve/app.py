"""The ASGI front end: a raw ASGI callable over the serving core (no framework per request).

:class:`ServiceApp` turns each HTTP request into an :class:`~nlpops.serve.core.Exchange` (the body read as
it streams in, the response sent as two ASGI messages) and hands it to
:meth:`~nlpops.serve.core.ServingCore.handle`; routes, errors, batching and metrics are the core's. The
ASGI lifespan starts and stops the core; SIGHUP asks the reloader to check the model source at once.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from nlpops.errors import NlpopsError, RequestError
from nlpops.serve.batcher import MicroBatcher
from nlpops.serve.core import Headers, ServingCore, body_too_large
from nlpops.serve.hooks import ServiceHooks
from nlpops.serve.metrics import ServiceMetrics
from nlpops.serve.reload import ModelReloader
from nlpops.serve.source import LoadedModel
from nlpops.tasks import TaskOutput

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _AsgiExchange:
    """One ASGI HTTP request as the core's :class:`~nlpops.serve.core.Exchange`."""

    __slots__ = ("_receive", "_send", "headers", "method", "path")

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers: Headers = scope["headers"]
        self._receive = receive
        self._send = send

    async def read_body(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise RequestError("The client disconnected before sending the whole body.", 400)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise body_too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def respond(self, status: int, body: bytes, headers: Headers) -> None:
        await self._send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())],
            }
        )
        await self._send({"type": "http.response.body", "body": body})


class ServiceApp:
    """The nlpops HTTP service as an ASGI application over a :class:`~nlpops.serve.core.ServingCore`.

    Args:
        core: the serving core (:func:`nlpops.serve.routes.build_core`).
        install_signal_handlers: reload on SIGHUP (only in a server's main thread).
    """

    def __init__(self, core: ServingCore, *, install_signal_handlers: bool = False) -> None:
        self.core = core
        self._install_signal_handlers = install_signal_handlers

    @property
    def reloader(self) -> ModelReloader:
        """The core's reloader (the live model)."""
        return self.core.reloader

    @property
    def metrics(self) -> ServiceMetrics:
        """The core's metrics."""
        return self.core.metrics

    @property
    def batcher(self) -> MicroBatcher[LoadedModel, TaskOutput]:
        """The core's micro-batcher."""
        return self.core.batcher

    @property
    def hooks(self) -> ServiceHooks | None:
        """The core's service hooks (None without monitoring)."""
        return self.core.hooks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.core.handle(_AsgiExchange(scope, receive, send))
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def startup(self) -> None:
        """Start the core (load the first model, start batcher, reloader and hooks); SIGHUP checks the source."""
        await self.core.startup()
        if self._install_signal_handlers and hasattr(signal, "SIGHUP"):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.core.reloader.request_check)

    async def shutdown(self) -> None:
        """Stop the core: finish every queued request, then close the hooks (last flush)."""
        if self._install_signal_handlers and hasattr(signal, "SIGHUP"):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        await self.core.shutdown()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except NlpopsError as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


__all__ = ["ServiceApp"]
