"""Helpers of the serving tests: a real uvicorn server on 127.0.0.1, port 0, in a thread (``live_server``, shared
with the serving conformance suite in ``nlpops.testing.serving``); ``nlpops serve`` as a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.serve import ServiceApp, build_app, bundle_source
from nlpops.testing.serving import live_server

__all__ = ["clean_env", "cli_server", "free_port", "live_server", "make_app"]


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1 (for subprocess servers that need a number)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def cli_server(
    args: list[str],
    env: dict[str, str],
    log: Path,
    *,
    cwd: Path | None = None,
    command: str = "serve",
    ready_s: float = 120,
) -> Iterator[str]:
    """Run ``nlpops serve ARGS --port P`` as a subprocess until it is ready; yield its URL; SIGTERM it after.

    Args:
        args: what follows ``nlpops serve`` (the REF and options, without ``--port``).
        env: the whole environment of the process.
        log: where its output goes (shown when it exits early).
        cwd: its working directory.
        command: the command that ends up serving (``serve``, or ``demo``, which trains first).
        ready_s: how long it may take to become ready.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    nlpops = str(Path(sys.executable).parent / "nlpops")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [nlpops, command, *args, "--port", str(port)], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + ready_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"nlpops serve exited with {process.returncode}: {log.read_text(errors='replace')}")
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"nlpops {command} did not become ready in {ready_s} s")
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without ``NLPOPS_*`` variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NLPOPS_")}
    env.update(extra)
    return env


def make_app(bundle_path: Path, **serving: Any) -> ServiceApp:
    return build_app(
        bundle_source(bundle_path),
        ServingSettings.model_validate(serving),
        MonitoringSettings(),
        follow=False,
    )
