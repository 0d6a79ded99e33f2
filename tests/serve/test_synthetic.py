"""Synthetic traffic: ``nlpops loadtest`` marks its requests, the service counts them apart, and monitoring
leaves them out of drift statistics (``monitoring.count_synthetic`` off by default)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from serve_support import clean_env, cli_server

from nlpops.bundle import Bundle
from nlpops.client import Client
from nlpops.testing import TINY_TEXTS

NLPOPS = str(Path(sys.executable).parent / "nlpops")
# texts unlike the tiny model's training data: counted as live traffic, they are drift
ODD_TEXTS = [f"zebra quantum violin {i} accordion" for i in range(20)]


def _monitor(bundle: Bundle, env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run(
        [NLPOPS, "monitor", str(bundle.path), "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode in (0, 3), done.stderr  # 3: drift
    report: dict[str, object] = json.loads(done.stdout)
    return report


def _flushed(bundle: Bundle, env: dict[str, str], rows: int) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while True:  # the service writes its live statistics every flush interval
        report = _monitor(bundle, env)
        if report["live_rows"] == rows or time.monotonic() > deadline:
            return report
        time.sleep(0.3)


@pytest.mark.slow
def test_loadtest_traffic_is_counted_apart_and_leaves_drift_alone(tiny_bundle: Bundle, tmp_path: Path) -> None:
    env = clean_env(NLPOPS_HOME=str(tmp_path / "home"), NLPOPS_MONITORING__FLUSH_INTERVAL_S="0.2")
    odd = tmp_path / "odd.txt"
    odd.write_text("\n".join(ODD_TEXTS) + "\n", encoding="utf-8")
    real = [text for text, _ in TINY_TEXTS] * 10  # 120 texts like the training data
    with cli_server([str(tiny_bundle.path)], env, tmp_path / "serve.log") as url:
        with Client(url) as client:
            for start in range(0, len(real), 40):
                client.classify(real[start : start + 40])
        assert _flushed(tiny_bundle, env, len(real))["status"] == "no_drift"

        loadtest = subprocess.run(
            [NLPOPS, "loadtest", url, "--rps", "100", "--duration", "2", "--texts", str(odd), "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert loadtest.returncode == 0, loadtest.stderr
        result = json.loads(loadtest.stdout)
        assert (result["sent"], result["errors"]) == (200, 0)
        metrics = httpx.get(f"{url}/metrics").text
        assert 'nlpops_synthetic_requests_total{route="/v1/classify",status="200"} 200.0' in metrics
        time.sleep(1.0)  # a few flush intervals: the synthetic texts would be in the store by now
        after_loadtest = _monitor(tiny_bundle, env)

        with Client(url) as client:  # the same texts as real traffic: drift (so the check above could fail)
            for _ in range(10):
                client.classify(ODD_TEXTS)
        counted = _flushed(tiny_bundle, env, len(real) + 10 * len(ODD_TEXTS))
    assert (after_loadtest["live_rows"], after_loadtest["status"]) == (len(real), "no_drift")
    assert counted["status"] == "drift"
