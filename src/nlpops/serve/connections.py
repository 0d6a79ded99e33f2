"""Bounding what idle clients can hold: a cap on open connections and a deadline for each request's head.

A :class:`ConnectionGuard` (one per server process, built from ``serving``) is shared by the connections of
:class:`~nlpops.serve.http.HttpProtocol`:

- **a header deadline**: a connection must send a complete request head within ``serving.header_timeout_s``
  of opening (and of its previous response), else it is closed. This bounds idle and slowloris clients.
- **a connection cap**: beyond ``serving.max_connections`` open connections, the oldest *idle* ones (no
  request in progress) are closed, a batch at a time, with one warning per ``LOG_EVERY_S``. A new client,
  such as a health check, is served; busy connections are never cut. When every connection is busy, the
  new one is closed instead.
- **enough file descriptors**: :func:`fit_descriptor_limit` raises the process's soft ``RLIMIT_NOFILE``
  towards the hard limit so the cap can be reached, or lowers the cap (with a warning) when it cannot.

(uvicorn alone keeps a connection that never sends a byte open forever, and its ``limit_concurrency``
answers 503 to *requests* once too many connections are open, so a flood of idle connections would turn
away ``/healthz`` too.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

logger = logging.getLogger("nlpops.serve")

LOG_EVERY_S = 10.0
RESERVED_DESCRIPTORS = 256  # files, the statistics store, the listening socket, worker pipes


class GuardedConnection(Protocol):
    """What the guard needs of a connection."""

    opened_at: float
    """When it opened (a monotonic clock: the oldest idle connections close first)."""

    @property
    def closable(self) -> bool:
        """Open, not already being closed, and no request being answered."""
        ...

    def close_by_guard(self) -> None:
        """Close it, counted with :meth:`ConnectionGuard.closing` until it is gone."""
        ...


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
    _closing: int = field(default=0, repr=False)
    _last_log: float = field(default=float("-inf"), repr=False)

    def admit(self, new: GuardedConnection, connections: Collection[GuardedConnection]) -> None:
        """Called when ``new`` is open: close the oldest idle connections if there are too many."""
        open_now = len(connections) - self._closing
        excess = open_now - self.max_connections
        if excess <= 0:
            return
        idle = sorted(
            (p for p in connections if p is not new and p.closable),
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


__all__ = ["LOG_EVERY_S", "ConnectionGuard", "GuardedConnection", "fit_descriptor_limit"]
