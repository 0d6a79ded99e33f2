"""Bounding what idle clients can hold: a cap on open connections and a deadline for each request's headers.

uvicorn keeps a connection that never sends a byte open forever (its keep-alive timeout starts only after a
first response), and it has no cap that frees descriptors: ``limit_concurrency`` answers 503 to *requests*
once too many connections are open, so a flood of idle connections would turn away ``/healthz`` too. Here a
:class:`ConnectionGuard` (one per server process, built from ``serving``) gives uvicorn's httptools protocol:

- **a header deadline**: a connection must send a complete request head within ``serving.header_timeout_s``
  of opening (and of its previous response), else it is closed. This bounds idle and slowloris clients.
- **a connection cap**: beyond ``serving.max_connections`` open connections, the oldest *idle* ones (no
  request in progress) are closed, a batch at a time, with one warning per ``LOG_EVERY_S``. A new client,
  such as a health check, is served; busy connections are never cut. When every connection is busy, the
  new one is closed instead.
- **enough file descriptors**: :func:`fit_descriptor_limit` raises the process's soft ``RLIMIT_NOFILE``
  towards the hard limit so the cap can be reached, or lowers the cap (with a warning) when it cannot.

It relies on uvicorn's ``HttpToolsProtocol`` (``cycle``, ``connections``, ``on_headers_complete``,
``on_response_complete``), pinned in constraints.txt.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger("nlpops.serve")

LOG_EVERY_S = 10.0
RESERVED_DESCRIPTORS = 256  # files, the statistics store, the listening socket, worker pipes


@dataclass
class ConnectionGuard:
    """The cap and deadline of one server process (uvicorn copies it into each worker process).

    Args:
        max_connections: the most open connections before the oldest idle ones are closed.
        header_timeout_s: how long a connection may take to send a complete request head.
    """

    max_connections: int
    header_timeout_s: float
    closed_idle: int = 0
    refused: int = 0
    timed_out: int = 0
    _closing: int = field(default=0, repr=False)
    _last_log: float = field(default=float("-inf"), repr=False)

    def protocol(self) -> Callable[..., Any]:
        """The protocol factory for ``uvicorn.Config(http=...)`` (picklable, for worker processes)."""
        return functools.partial(BoundedHttpProtocol, guard=self)

    def admit(self, new: BoundedHttpProtocol, connections: set[Any]) -> None:
        """Called when ``new`` is open: close the oldest idle connections if there are too many."""
        open_now = len(connections) - self._closing
        excess = open_now - self.max_connections
        if excess <= 0:
            return
        idle = sorted(
            (p for p in connections if isinstance(p, BoundedHttpProtocol) and p is not new and p.closable),
            key=lambda p: p.opened_at,
        )
        # a batch (an eighth of the cap) at a time: a flood costs one sort per batch, not one per connection
        batch = idle[: max(excess, self.max_connections // 8)]
        if not batch:
            new.close_by_guard()
            self.refused += 1
        for protocol in batch:
            protocol.close_by_guard()
        self.closed_idle += len(batch)
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY_S:
            self._last_log = now
            logger.warning(
                "%d connections open, more than serving.max_connections=%d: closed the oldest idle connections "
                "(%d so far, %d new ones refused while all were busy). Raise serving.max_connections if these "
                "are real clients.",
                open_now,
                self.max_connections,
                self.closed_idle,
                self.refused,
            )

    def closing(self, delta: int) -> None:
        self._closing += delta


class BoundedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the guard's header deadline and connection cap."""

    def __init__(self, *args: Any, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard
        self.opened_at = 0.0
        self._deadline: Any = None
        self._closed_by_guard = False

    @property
    def closable(self) -> bool:
        """Open, not already being closed, and no request in progress."""
        busy = self.cycle is not None and not self.cycle.response_complete
        return not busy and not self._closed_by_guard and not self.transport.is_closing()

    def close_by_guard(self) -> None:
        self._closed_by_guard = True
        self.guard.closing(+1)
        self.transport.close()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.opened_at = time.monotonic()
        self._arm()
        self.guard.admit(self, self.connections)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._closed_by_guard:
            self.guard.closing(-1)
            self._closed_by_guard = False
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and not self.pipeline:
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.guard.header_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.closable:
            self.guard.timed_out += 1
            self.transport.close()


def fit_descriptor_limit(max_connections: int) -> int:
    """Raise this process's soft limit on open files so ``max_connections`` fit; the cap that does fit.

    Returns:
        ``max_connections``, or less (with a warning) when the hard limit does not allow it.
    """
    import resource

    needed = max_connections + RESERVED_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < needed:
        fitted = max(1, soft - RESERVED_DESCRIPTORS)
        logger.warning(
            "serving.max_connections=%d does not fit the open-files limit (%d, hard %d): using %d. "
            "Raise the limit (ulimit -n) or lower serving.max_connections.",
            max_connections,
            soft,
            hard,
            fitted,
        )
        return fitted
    return max_connections


__all__ = ["LOG_EVERY_S", "BoundedHttpProtocol", "ConnectionGuard", "fit_descriptor_limit"]
