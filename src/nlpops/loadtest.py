"""``nlpops loadtest``: an open-loop load test of a running nlpops service.

Requests leave at a constant arrival rate whatever the server does (open loop), and each latency is
measured from the request's *scheduled* send time, so a slow server cannot hide latency by slowing the
sender down (no coordinated omission). Each request POSTs ``{"texts": [text]}`` to ``URL/v1/classify`` with
:class:`nlpops.AsyncClient` (one connection pool, no retries), marked synthetic (``x-nlpops-synthetic: 1``):
the service counts it apart and its monitoring leaves it out of drift statistics.
Only loopback targets are allowed unless ``allow_remote`` is set; runs are bounded in time.
"""

from __future__ import annotations

import asyncio
import csv
import ipaddress
import json
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from nlpops.client import AsyncClient
from nlpops.errors import NlpopsError, PlanError
from nlpops.progress import Progress, ProgressLike, as_progress

LOADTEST_SCHEMA_VERSION = 1
MAX_DURATION_S = 600.0
MAX_RPS = 10_000.0


def check_target(url: str, allow_remote: bool = False) -> str:
    """Validate the URL and refuse non-loopback hosts unless ``allow_remote``.

    Returns:
        The URL without a trailing slash.

    Raises:
        PlanError: not http(s), no host, or a remote host without ``allow_remote``.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PlanError(f'"{url}" is not an http(s) URL with a host. Use e.g. http://127.0.0.1:8000')
    if not allow_remote:
        try:
            addresses = {str(info[4][0]) for info in socket.getaddrinfo(parts.hostname, None)}
        except socket.gaierror as exc:
            raise PlanError(f'Cannot resolve "{parts.hostname}": {exc}. Check the URL.') from exc
        remote = sorted(a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback)
        if remote:
            raise PlanError(
                f'"{parts.hostname}" is not a loopback address ({", ".join(remote)}). Load tests hit this machine '
                "only; pass --allow-remote to test a remote service you own."
            )
    return url.rstrip("/")


def read_texts(path: Path | str | None, limit: int = 5000) -> list[str]:
    """Texts to send: one per line of a .txt file, the ``text`` column of a .csv, or the banking77 test set."""
    if path is None:
        from nlpops.data import bundled_dataset

        path = bundled_dataset("banking77", "test")
    file = Path(path)
    try:
        if file.suffix == ".csv":
            with file.open(encoding="utf-8", newline="") as fh:
                texts = [row["text"] for row in csv.DictReader(fh) if row.get("text")]
        else:
            texts = [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, KeyError, UnicodeDecodeError) as exc:
        raise PlanError(
            f'Cannot read texts from "{file}": {exc}. Give a .txt (one per line) or a .csv with "text".'
        ) from exc
    if not texts:
        raise PlanError(f'"{file}" holds no texts. Give a .txt (one per line) or a .csv with a "text" column.')
    return texts[:limit]


async def _run(
    url: str,
    texts: Sequence[str],
    rps: float,
    duration_s: float,
    timeout_s: float,
    api_key: str | None,
    report: Progress,
) -> tuple[list[float], list[str], float]:
    total = max(1, round(rps * duration_s))
    report.step(f"sending {total} requests at {rps:g}/s to {url}", total=total)
    latencies: list[float] = []
    errors: list[str] = []
    # no retries: a 503 is what the service did at this rate, and counts as an error
    client = AsyncClient(url, api_key=api_key, timeout_s=timeout_s, max_attempts=1, synthetic=True, max_connections=512)
    async with client:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05

        async def one(i: int) -> None:
            scheduled = start + i / rps
            await asyncio.sleep(max(0.0, scheduled - loop.time()))
            try:
                await client.classify([texts[i % len(texts)]])
            except NlpopsError as exc:
                errors.append(_error_kind(exc))
                return
            finally:
                report.advance(1, f"{len(errors)} errors" if errors else None)
            latencies.append(loop.time() - scheduled)

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = loop.time() - start
    return latencies, errors, elapsed


def _error_kind(exc: NlpopsError) -> str:
    """``HTTP 503`` for an answer, the transport error's name (``ReadTimeout``) for no answer."""
    cause = exc.__cause__
    return type(cause).__name__ if cause is not None else f"HTTP {exc.http_status}"


def run_loadtest(
    url: str,
    *,
    rps: float,
    duration_s: float,
    texts: Sequence[str],
    slo_p95_ms: float | None = None,
    allow_remote: bool = False,
    timeout_s: float = 10.0,
    api_key: str | None = None,
    progress: ProgressLike = None,
) -> dict[str, Any]:
    """Send ``rps`` requests per second for ``duration_s`` seconds and report what the service achieved.

    Args:
        url: the service base URL (``http://127.0.0.1:8000``).
        rps: target arrival rate (requests per second), each request one text.
        duration_s: how long to send; at most 600 s.
        texts: real texts, sent in turn.
        slo_p95_ms: the p95 objective to check; None: not checked.
        allow_remote: allow a non-loopback host.
        timeout_s: per-request timeout (a timed-out request counts as an error).
        api_key: sent as ``Authorization: Bearer`` when given.
        progress: counts the requests answered (or failed).

    Returns:
        The result (see docs/advisor.md): achieved rate, latency percentiles, errors, whether the SLO held.

    Raises:
        PlanError: invalid rate/duration/texts or a refused target.
    """
    target = check_target(url, allow_remote)
    if not 0 < rps <= MAX_RPS:
        raise PlanError(f"--rps must be in (0, {MAX_RPS:g}], got {rps}.")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise PlanError(f"--duration must be in (0, {MAX_DURATION_S:g}] seconds, got {duration_s}.")
    if not texts:
        raise PlanError("No texts to send. Pass --texts FILE.")
    wall = time.time()
    report = as_progress(progress)
    latencies, errors, elapsed = asyncio.run(_run(target, texts, rps, duration_s, timeout_s, api_key, report))
    sent = len(latencies) + len(errors)
    if latencies:
        values = np.asarray(latencies) * 1000.0
        p50, p95, p99 = (float(v) for v in np.percentile(values, [50, 95, 99]))
        latency = {"p50": p50, "p95": p95, "p99": p99, "max": float(values.max())}
    else:
        latency = {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    counts: dict[str, int] = {}
    for err in errors:
        counts[err] = counts.get(err, 0) + 1
    slo_met = None
    if slo_p95_ms is not None:
        slo_met = bool(latencies) and not errors and latency["p95"] <= slo_p95_ms
    return {
        "schema_version": LOADTEST_SCHEMA_VERSION,
        "kind": "nlpops-loadtest",
        "url": target,
        "started_at": wall,
        "target_rps": rps,
        "duration_s": duration_s,
        "sent": sent,
        "ok": len(latencies),
        "errors": len(errors),
        "error_kinds": counts,
        "achieved_rps": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "latency_ms": latency,
        "slo_p95_ms": slo_p95_ms,
        "slo_met": slo_met,
    }


def load_loadtest(path: Path | str) -> dict[str, Any]:
    """Read a loadtest result JSON (``nlpops loadtest --out``).

    Raises:
        PlanError: missing or not a loadtest result.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanError(
            f'Load test result "{file}" cannot be read: {exc}. Run: nlpops loadtest URL --out {file}'
        ) from exc
    if not isinstance(data, dict) or data.get("kind") != "nlpops-loadtest":
        raise PlanError(f'"{file}" is not a result of nlpops loadtest.')
    return dict(data)


__all__ = ["LOADTEST_SCHEMA_VERSION", "check_target", "load_loadtest", "read_texts", "run_loadtest"]
