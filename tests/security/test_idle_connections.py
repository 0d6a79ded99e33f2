"""Idle connections cannot starve the service: a cap closes the oldest idle ones (with a log line), a
connection that sends no request headers is closed after ``serving.header_timeout_s``, and ``/healthz`` on a
new connection answers within a second while 20,000 idle connections are open."""

from __future__ import annotations

import contextlib
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_support import clean_env, cli_server

from nlpops.bundle import Bundle

IDLE_CONNECTIONS = 20_000
PER_PROCESS = 4_000  # helper processes each hold this many: no single process needs 20,000 descriptors

# Opens N connections to 127.0.0.1:PORT sending nothing, prints how many connected, holds them until stdin closes.
_HOLDER = """
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
held, failures = [], 0
for _ in range(n):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        s.close()
        failures += 1
        if failures == 3:  # the server stopped accepting: stop, so that a failing run ends in bounded time
            break
        continue
    held.append(s)
print(len(held), flush=True)
sys.stdin.read()
for s in held:
    s.close()
"""


def _descriptors_needed(per_process: int) -> int:
    return per_process + 64


@contextlib.contextmanager
def _idle_connections(port: int, total: int) -> Iterator[int]:
    """Open ``total`` idle connections from helper processes; yield how many connected; close them all after."""
    holders = []
    try:
        for start in range(0, total, PER_PROCESS):
            count = min(PER_PROCESS, total - start)
            holders.append(
                subprocess.Popen(
                    [sys.executable, "-c", _HOLDER, str(port), str(count)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        connected = 0
        for holder in holders:
            assert holder.stdout is not None
            line = holder.stdout.readline()
            connected += int(line) if line.strip() else 0
        yield connected
    finally:
        for holder in holders:
            with contextlib.suppress(OSError):
                assert holder.stdin is not None
                holder.stdin.close()
        for holder in holders:
            try:
                holder.wait(timeout=60)
            except subprocess.TimeoutExpired:
                holder.kill()
                holder.wait()
            if holder.stdout is not None:
                holder.stdout.close()


def _serve(bundle: Bundle, tmp_path: Path, **env: str) -> contextlib.AbstractContextManager[str]:
    return cli_server([str(bundle.path)], clean_env(NLPOPS_HOME=str(tmp_path / "home"), **env), tmp_path / "serve.log")


@pytest.mark.slow
def test_healthz_answers_within_a_second_with_20000_idle_connections(tiny_bundle: Bundle, tmp_path: Path) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < _descriptors_needed(PER_PROCESS):
        pytest.skip(f"the OS allows {hard} open files per process; the helpers need {_descriptors_needed(PER_PROCESS)}")
    with _serve(tiny_bundle, tmp_path) as url:
        port = int(url.rsplit(":", 1)[1])
        started = time.monotonic()
        with _idle_connections(port, IDLE_CONNECTIONS) as connected:
            opened_s = time.monotonic() - started
            began = time.monotonic()
            with httpx.Client(timeout=5) as fresh:  # a new connection
                response = fresh.get(f"{url}/healthz")
            answered_s = time.monotonic() - began
            assert response.status_code == 200 and response.json() == {"status": "ok"}
            figures = f"{connected} idle connections in {opened_s:.1f} s; /healthz in {answered_s * 1000:.0f} ms"
            print(figures)
            assert answered_s < 1.0, figures
        log = (tmp_path / "serve.log").read_text(encoding="utf-8", errors="replace")
    assert connected == IDLE_CONNECTIONS, f"{connected} of {IDLE_CONNECTIONS} connected in {opened_s:.1f} s"
    assert "serving.max_connections=1024" in log and "closed the oldest idle connections" in log, log[-2000:]


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_connection_without_request_headers_is_closed_after_the_header_timeout(
    tiny_bundle: Bundle, tmp_path: Path
) -> None:
    with _serve(tiny_bundle, tmp_path, NLPOPS_SERVING__HEADER_TIMEOUT_S="1") as url:
        port = int(url.rsplit(":", 1)[1])
        with (
            socket.create_connection(("127.0.0.1", port)) as silent,
            socket.create_connection(("127.0.0.1", port)) as slow,
        ):
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers started, never finished
            assert _closed_within(silent, 30) and _closed_within(slow, 30)
        with socket.create_connection(("127.0.0.1", port)) as prompt:  # a prompt client is served as before
            prompt.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            prompt.settimeout(30)
            assert prompt.recv(1024).startswith(b"HTTP/1.1 200")
