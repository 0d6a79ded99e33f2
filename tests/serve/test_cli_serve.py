"""``nlpops serve`` as a subprocess: it serves, and on SIGTERM it finishes accepted requests, then exits."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from nlpops.bundle import Bundle
from nlpops.data import bundled_dataset, read_dataset

NLPOPS = str(Path(sys.executable).parent / "nlpops")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(ref: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [NLPOPS, "serve", ref, "--port", str(port)], env={**os.environ, **env}, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            out = log.read_text(errors="replace")
            raise AssertionError(f"nlpops serve exited with {process.returncode}: {out}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "nlpops serve did not become ready"
        time.sleep(0.1)


@pytest.mark.slow
def test_cli_serve_finishes_accepted_requests_on_sigterm(tiny_bundle: Bundle, tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    texts = read_dataset(bundled_dataset("banking77", "test")).texts[:256]
    process = _start(str(tiny_bundle.path), port, {"NLPOPS_SERVING__MAX_QUEUE": "100000"}, tmp_path / "serve.log")
    try:
        body = orjson.dumps({"texts": texts})
        request = (
            f"POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body

        async def send_one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            await writer.drain()
            return reader, writer

        async def status_of(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> int:
            status_line = await reader.readline()
            writer.close()
            return int(status_line.split()[1]) if status_line else 0

        async def scenario() -> list[int]:
            connections = await asyncio.gather(*(send_one() for _ in range(64)))  # all 64 sent
            answers = [asyncio.create_task(status_of(r, w)) for r, w in connections]
            # once the first answer is out, the server has read the other requests (sent long before): they
            # are in flight in its queue (64 x 256 texts take a while)
            await asyncio.wait(answers, return_when=asyncio.FIRST_COMPLETED)
            process.send_signal(signal.SIGTERM)
            return list(await asyncio.gather(*answers))

        statuses = asyncio.run(scenario())
        # uvicorn exits by re-raising the signal once it has shut down gracefully
        assert process.wait(timeout=120) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert statuses == [200] * 64
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz")


def test_cli_serve_reports_a_bad_ref_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [NLPOPS, "serve", str(tmp_path / "missing"), "--port", "0"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_cli_serve_prints_a_banner_with_model_version_and_urls(tiny_bundle: Bundle, tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    env = {"NLPOPS_SERVING__API_KEYS": '["k-1"]', "NLPOPS_HOME": str(tmp_path / "registry")}
    process = _start(str(tiny_bundle.path), port, env, log)
    try:
        text = log.read_text(errors="replace")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    url = f"http://127.0.0.1:{port}"
    manifest = tiny_bundle.manifest
    assert f"Serving {manifest.name} version {manifest.version} ({tiny_bundle.path}) on {url}" in text
    assert f"status page  {url}/" in text and f"API docs     {url}/docs" in text
    assert "API key      required" in text
