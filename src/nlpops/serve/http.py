"""The service's HTTP/1.1 protocol: httptools parses each request and the serving core answers it directly.

uvicorn runs the server (the listening socket, worker processes, signals, graceful shutdown, the ASGI
lifespan that starts the core); :class:`HttpProtocol` replaces its per-request ASGI path. There, a request
becomes an ASGI scope, a ``receive`` and two ``send`` message dicts, and every response header is checked
by regular expression; here a request is one :class:`_Request` (the core's
:class:`~nlpops.serve.core.Exchange`) and its response one ``write``. The core's own answers are built from
its constant headers, so nothing needs checking. The ASGI app (:class:`~nlpops.serve.app.ServiceApp`) stays
what other ASGI servers run; both adapters pass the same conformance suite (``nlpops.testing.serving``).

What a client can hold is bounded here:

- **request heads** (request line and headers) over :data:`MAX_HEAD_BYTES`: 431, and the connection is closed;
- **bodies** over ``serving.max_body_bytes``: never buffered beyond the limit; the core answers 413 (before
  reading when the client announced the length) and the connection is closed after the answer;
- **time**: a connection must send a complete request head within ``serving.header_timeout_s`` of opening
  and of its previous answer, and an idle kept-alive one is closed after ``serving.keep_alive_timeout_s``
  (one timer per connection, re-armed lazily: a request costs no timer call);
- **connections**: the :class:`~nlpops.serve.connections.ConnectionGuard` cap (the oldest idle ones close);
- **pipelined requests** are answered in order, one at a time; reading pauses while one waits, and while a
  client does not read its answers (the transport's write buffer is full).

Malformed requests get a JSON error (400) and the connection is closed; they are not logged (a flood of them
must not fill the log).
"""

from __future__ import annotations

import asyncio
import functools
import http
import logging
import re
import urllib.parse
from collections import deque
from collections.abc import Callable
from typing import Any

import httptools
import orjson

from nlpops.errors import RequestError
from nlpops.serve.app import ServiceApp
from nlpops.serve.connections import ConnectionGuard
from nlpops.serve.core import JSON_HEADERS, Headers, body_too_large

logger = logging.getLogger("nlpops.serve")

MAX_HEAD_BYTES = 65_536
"""The most bytes a request line plus headers may take (larger: 431 and the connection closes)."""

_PIPELINE = 1  # reasons to pause reading (bits)
_WRITE = 2


STATUS_LINES = {status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode() for status in http.HTTPStatus}
"""The status line of every standard status (the core answers with no other)."""
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_URL_SPECIALS = re.compile(rb"[?#%]")
_default_headers: list[Any] = [None, b""]  # uvicorn's per-second default headers (date), and their bytes


def _default_header_bytes(state: Any) -> bytes:
    """uvicorn's default headers (``date``, refreshed every second by the server) as header lines."""
    headers = state.default_headers
    if headers is not _default_headers[0]:
        _default_headers[0] = headers
        _default_headers[1] = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    cached: bytes = _default_headers[1]
    return cached


def _response(state: Any, status: int, headers: Headers, body: bytes, *, close: bool, with_body: bool = True) -> bytes:
    """One whole answer: status line, uvicorn's default headers, ``headers``, content-length, the body."""
    parts = [STATUS_LINES[status], _default_header_bytes(state)]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"content-length: %d\r\n" % len(body))
    if close:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if with_body:
        parts.append(body)
    return b"".join(parts)


class _HeadTooLarge(Exception):
    """Raised by a parser callback: the request head exceeds :data:`MAX_HEAD_BYTES`."""


class _Request:
    """One HTTP request as the core's :class:`~nlpops.serve.core.Exchange`; its body arrives as it is parsed."""

    __slots__ = (
        "_chunks",
        "_conn",
        "_size",
        "_waiter",
        "complete",
        "expect_continue",
        "headers",
        "keep_alive",
        "method",
        "oversize",
        "path",
    )

    def __init__(
        self, conn: HttpProtocol, method: str, path: str, headers: Headers, keep_alive: bool, expect: bool
    ) -> None:
        self._conn = conn
        self.method = method
        self.path = path
        self.headers = headers
        self.keep_alive = keep_alive
        self.expect_continue = expect
        self._chunks: list[bytes] = []
        self._size = 0
        self._waiter: asyncio.Future[None] | None = None
        self.complete = False
        self.oversize = False

    def feed(self, chunk: bytes, limit: int) -> None:
        """Keep a piece of the body; beyond ``limit`` bytes keep nothing and wake the reader (it answers 413)."""
        if self.oversize:
            return
        self._size += len(chunk)
        if self._size > limit:
            self.oversize = True
            self._chunks.clear()
            self.wake()
        else:
            self._chunks.append(chunk)

    def finish(self) -> None:
        """The whole body has arrived."""
        self.complete = True
        self.wake()

    def wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def read_body(self, limit: int) -> bytes:
        conn = self._conn
        if self.expect_continue and not self.complete:
            conn.write(_CONTINUE)  # the client waits for this before sending a body (curl does, over 1 KiB)
        while not (self.complete or self.oversize):
            if conn.lost:
                raise RequestError("The client disconnected before sending the whole body.", 400)
            self._waiter = conn.loop.create_future()
            await self._waiter
            self._waiter = None
        if self.oversize or self._size > limit:
            raise body_too_large(limit)
        return b"".join(self._chunks)  # one chunk: that very object

    async def respond(self, status: int, body: bytes, headers: Headers) -> None:
        await self._conn.send_response(self, status, body, headers)


class HttpProtocol(asyncio.Protocol):
    """One client connection: HTTP/1.1 parsed by httptools, each request answered by the serving core.

    uvicorn builds one per connection (``uvicorn.Config(http=http_protocol(guard))``); the app it serves must
    be a :class:`~nlpops.serve.app.ServiceApp`, whose core answers the requests.

    Args:
        config: uvicorn's config (its loaded app, the keep-alive timeout).
        server_state: uvicorn's server state (open connections, running requests, default headers).
        app_state: the lifespan state (unused: the core holds its state).
        guard: the connection cap and header deadline of this process.
    """

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        guard: ConnectionGuard,
    ) -> None:
        if not config.loaded:
            config.load()
        app = config.loaded_app
        if not isinstance(app, ServiceApp):
            raise TypeError(
                f"nlpops' HTTP protocol serves a ServiceApp, not {type(app).__name__}: run uvicorn with "
                "proxy_headers=False and without trace logging (nlpops.serve.server.uvicorn_options does)."
            )
        self.core = app.core
        self.loop = _loop or asyncio.get_event_loop()
        self.guard = guard
        self.server_state = server_state
        self.connections: set[Any] = server_state.connections
        self.tasks: set[asyncio.Task[None]] = server_state.tasks
        self.keep_alive_s: float = config.timeout_keep_alive
        self.body_limit = self.core.serving.max_body_bytes
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made
        self.opened_at = 0.0
        self.lost = False
        self._active: _Request | None = None  # the request being answered
        self._parsing: _Request | None = None  # the request whose body is arriving
        self._pipeline: deque[_Request] = deque()
        self._url = b""
        self._headers: Headers = []
        self._head_bytes = 0
        self._expect = False
        self._close_after = False  # after the current answer: shutdown, an upgrade, a malformed request
        self._closed_by_guard = False
        self._paused = 0
        self._drained: asyncio.Future[None] | None = None
        self._idle_since = 0.0
        self._deadline: float | None = None  # close at this loop time unless a request head is complete by then
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    # -- the guard's view --------------------------------------------------------------------------------

    @property
    def closable(self) -> bool:
        """Open, not already being closed, and no request being answered."""
        return self._active is None and not self._closed_by_guard and not self.transport.is_closing()

    def close_by_guard(self) -> None:
        self._closed_by_guard = True
        self.guard.closing(+1)
        self.transport.close()

    # -- connection events -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport
        self.connections.add(self)
        now = self.loop.time()
        self.opened_at = self._idle_since = now
        self._set_deadline(now + self.guard.header_timeout_s)
        self.guard.admit(self, self.connections)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._closed_by_guard:
            self.guard.closing(-1)
        for request in (self._active, self._parsing):
            if request is not None:
                request.wake()  # a reader waiting for the body learns that the client left
        self._pipeline.clear()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def eof_received(self) -> None:
        return None  # the transport closes itself

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._close_after = True  # upgrades (WebSocket, h2c) are not served: answer this request, then close
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, _HeadTooLarge):
                self._refuse(431, "request_head_too_large", f"The request head exceeds {MAX_HEAD_BYTES} bytes.")
            else:
                self._refuse(400, "invalid_http", "Invalid HTTP request. Send HTTP/1.1 with a valid request line.")

    def pause_writing(self) -> None:
        self._pause(_WRITE)  # a client that does not read its answers gets no more of them read

    def resume_writing(self) -> None:
        self._resume(_WRITE)
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close now if idle, else after the current answer."""
        if self._active is None:
            self.transport.close()
        else:
            self._close_after = True

    # -- parser callbacks --------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._head_bytes = 0
        self._expect = False
        self._set_deadline(self._idle_since + self.guard.header_timeout_s)  # the keep-alive wait is over

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if self._head_bytes > MAX_HEAD_BYTES:
            raise _HeadTooLarge

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect":
            self._expect = value.lower() == b"100-continue"
        self._headers.append((name, value))
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > MAX_HEAD_BYTES:
            raise _HeadTooLarge

    def on_headers_complete(self) -> None:
        self._deadline = None  # a complete head: no deadline while it is answered
        parser = self.parser
        url = self._url
        if url[:1] == b"/" and not _URL_SPECIALS.search(url):  # a plain path, as clients send it
            path = url.decode("ascii")
        else:  # absolute form, a query, escapes
            path = httptools.parse_url(url).path.decode("ascii")
            if "%" in path:
                path = urllib.parse.unquote(path)
        request = _Request(
            self, parser.get_method().decode("ascii"), path, self._headers, parser.should_keep_alive(), self._expect
        )
        self._parsing = request
        if self._active is None:
            self._start(request)
        else:
            self._pipeline.append(request)
            self._pause(_PIPELINE)

    def on_body(self, body: bytes) -> None:
        if self._parsing is not None:
            self._parsing.feed(body, self.body_limit)

    def on_message_complete(self) -> None:
        request, self._parsing = self._parsing, None
        if request is not None:
            request.finish()

    # -- answering ---------------------------------------------------------------------------------------

    def _start(self, request: _Request) -> None:
        self._active = request
        task = self.loop.create_task(self.core.handle(request))
        self.tasks.add(task)
        task.add_done_callback(self._handled)

    def _handled(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if task.cancelled() or task.exception() is not None:  # the core answers every error: this is a bug
            if not task.cancelled():
                logger.error("Request handling failed", exc_info=task.exception())
            if not self.transport.is_closing():
                self.transport.close()  # an unanswered request: the client must not wait for it

    def write(self, data: bytes) -> None:
        if not self.lost and not self.transport.is_closing():
            self.transport.write(data)

    async def send_response(self, request: _Request, status: int, body: bytes, headers: Headers) -> None:
        """Write one answer; then start the next pipelined request, or wait for one (keep-alive)."""
        if self._paused & _WRITE and not self.lost:
            self._drained = self.loop.create_future()
            await self._drained
            self._drained = None
        if self.lost or self.transport.is_closing():
            return
        keep = request.keep_alive and request.complete and not self._close_after
        head_only = request.method == "HEAD"
        self.transport.write(
            _response(self.server_state, status, headers, body, close=not keep, with_body=not head_only)
        )
        if not keep:
            self.transport.close()
            return
        self._active = None
        if self._pipeline:
            self._start(self._pipeline.popleft())
            if not self._pipeline:
                self._resume(_PIPELINE)
        else:
            now = self.loop.time()
            self._idle_since = now
            self._set_deadline(now + self.keep_alive_s)

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer a request that cannot be parsed, then close (after the answer in progress, if any)."""
        self._pause(_PIPELINE)  # nothing more is read from this connection
        self._pipeline.clear()
        parsing, self._parsing = self._parsing, None
        if self._active is not None:
            if parsing is self._active:  # its own body is malformed: it cannot be answered
                self.transport.close()
            else:
                self._close_after = True  # close once the request in progress is answered
            return
        body = orjson.dumps({"error": {"code": code, "message": message}})
        self.write(_response(self.server_state, status, JSON_HEADERS, body, close=True))
        self.transport.close()

    # -- reading and time limits -------------------------------------------------------------------------

    def _pause(self, reason: int) -> None:
        if not self._paused and not self.transport.is_closing():
            self.transport.pause_reading()
        self._paused |= reason

    def _resume(self, reason: int) -> None:
        was = self._paused
        self._paused &= ~reason
        if was and not self._paused and not self.transport.is_closing():
            self.transport.resume_reading()

    def _set_deadline(self, at: float) -> None:
        self._deadline = at
        if self._timer is None or at < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._arm(at)

    def _arm(self, at: float) -> None:
        self._timer_at = at
        self._timer = self.loop.call_at(at, self._check_deadline)

    def _check_deadline(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self.lost:
            return  # a request is being answered: its answer sets the next deadline
        if self.loop.time() < deadline:
            self._arm(deadline)
        elif self.closable:
            self.transport.close()  # no complete head in time, or idle past the keep-alive timeout


def http_protocol(guard: ConnectionGuard) -> Callable[..., HttpProtocol]:
    """The protocol factory for ``uvicorn.Config(http=...)`` (picklable, for worker processes)."""
    return functools.partial(HttpProtocol, guard=guard)


__all__ = ["MAX_HEAD_BYTES", "STATUS_LINES", "HttpProtocol", "http_protocol"]
