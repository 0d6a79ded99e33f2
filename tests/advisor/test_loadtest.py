"""nlpops loadtest against a real HTTP server on 127.0.0.1 that classifies with a real Predictor."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from advisor_fixtures import read_profile

from nlpops.bundle import Bundle
from nlpops.errors import PlanError
from nlpops.loadtest import check_target, load_loadtest, read_texts, run_loadtest
from nlpops.runtimes import load_predictor


def _app(bundle: Bundle, delay_s: float) -> Any:
    predictor = load_predictor(bundle)

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["path"] != "/v1/classify":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
            return
        texts = json.loads(body)["texts"]
        if delay_s:
            time.sleep(delay_s)  # a deliberately slow (blocking) server
        predictions = [{"label": label, "score": score} for label, score in predictor.predict(texts)]
        payload = json.dumps({"model": "tiny", "predictions": predictions}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})

    return app


@pytest.fixture
def server(tiny_bundle: Bundle, request: pytest.FixtureRequest) -> Iterator[str]:
    delay = getattr(request, "param", 0.0)
    config = uvicorn.Config(_app(tiny_bundle, delay), host="127.0.0.1", port=0, log_level="error", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not srv.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        port = srv.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def test_loadtest_reports_rate_latency_and_slo(server: str) -> None:
    result = run_loadtest(server, rps=40, duration_s=1.0, texts=read_texts(None), slo_p95_ms=2000)
    assert result["sent"] == 40 and result["ok"] == 40 and result["errors"] == 0
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p95"] <= result["latency_ms"]["p99"]
    assert result["achieved_rps"] > 0
    assert result["slo_met"] is True


@pytest.mark.parametrize("server", [0.05], indirect=True)
def test_loadtest_slow_server_cannot_hide_latency(server: str) -> None:
    # 40 req/s against a server that needs 50 ms each (20 req/s at most): queueing must show in the latency.
    result = run_loadtest(server, rps=40, duration_s=1.0, texts=["my card is lost"], slo_p95_ms=100)
    assert result["latency_ms"]["p95"] > 300
    assert result["slo_met"] is False


def test_loadtest_result_attaches_to_plan(server: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nlpops.cli import build_app

    out = tmp_path / "lt.json"
    result = CliRunner().invoke(
        build_app(), ["loadtest", server, "--rps", "20", "--duration", "0.5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert load_loadtest(out)["ok"] == 10
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps(read_profile("tfidf_small.json")), encoding="utf-8")
    result = CliRunner().invoke(
        build_app(), ["plan", "--profile-file", str(profile), "--loadtest", str(out), "--out", str(tmp_path / "plan")]
    )
    assert result.exit_code == 0, result.output
    assert "Verified by load test" in (tmp_path / "plan" / "plan.md").read_text(encoding="utf-8")


def test_loadtest_refuses_remote_and_bad_input() -> None:
    with pytest.raises(PlanError, match="not a loopback"):
        check_target("http://10.1.2.3:8000")
    assert check_target("http://10.1.2.3:8000/", allow_remote=True) == "http://10.1.2.3:8000"
    with pytest.raises(PlanError, match="http"):
        check_target("ftp://127.0.0.1")
    with pytest.raises(PlanError, match="--duration"):
        run_loadtest("http://127.0.0.1:9", rps=1, duration_s=10_000, texts=["x"])


def test_loadtest_counts_every_request_answered(server: str) -> None:
    from progress_support import RecordedProgress

    recorded = RecordedProgress()
    run_loadtest(server, rps=20, duration_s=0.5, texts=["my card is lost"], progress=recorded)
    (sending,) = recorded.counted()
    assert sending.total == sending.done == 10
