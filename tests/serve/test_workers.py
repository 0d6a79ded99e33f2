"""``nlpops serve --workers 2``: two processes behind one port, one set of metrics that adds up."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from serve_support import clean_env, cli_server

from nlpops.bundle import Bundle


def _sample(metrics: str, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of ``name`` whose labels include ``labels``: (all its labels, value)."""
    found = []
    for match in re.finditer(rf"^{name}\{{([^}}]*)\}} (\S+)$", metrics, re.M):
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if labels.items() <= pairs.items():
            found.append((pairs, float(match.group(2))))
    return found


@pytest.mark.slow
def test_two_workers_share_one_set_of_metrics(tiny_bundle: Bundle, tmp_path: Path) -> None:
    env = clean_env(NLPOPS_HOME=str(tmp_path / "home"), NLPOPS_MONITORING__FLUSH_INTERVAL_S="0.2")
    version = tiny_bundle.manifest.version
    with cli_server([str(tiny_bundle.path), "--workers", "2"], env, tmp_path / "serve.log") as url:
        # /readyz answers once one worker is ready; each worker reports itself as serving the model once it
        # has loaded it. Wait for both: two processes are behind the port.
        deadline = time.monotonic() + 120
        while True:
            live = _sample(httpx.get(f"{url}/metrics", timeout=30).text, "nlpops_model_info", version=version)
            if len({labels["pid"] for labels, value in live if value == 1.0}) == 2:
                break
            assert time.monotonic() < deadline, f"the second worker never reported its model: {live}"
            time.sleep(0.2)
        for i in range(60):  # a new connection each time: the kernel spreads them over both workers
            answer = httpx.post(f"{url}/v1/classify", json={"text": f"I lost my card {i}"}, timeout=30)
            assert answer.status_code == 200, answer.text
        httpx.get(f"{url}/v1/status", timeout=30)  # computes drift (and sets its gauges) in the worker it hits
        metrics = httpx.get(f"{url}/metrics", timeout=30).text

    # Counters add up across the workers: every request counted once, whichever worker answered it.
    ((_, classified),) = _sample(metrics, "nlpops_http_requests_total", route="/v1/classify", status="200")
    assert classified == 60
    # Drift gauges are the service's verdict, not one series per worker.
    drift = _sample(metrics, "nlpops_drift_live_rows", model="tiny")
    assert drift and all("pid" not in labels for labels, _ in drift), drift
