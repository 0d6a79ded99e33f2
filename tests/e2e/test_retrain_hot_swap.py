"""Issue 8 acceptance: retrain while ``nlpops serve NAME@production`` answers, with no failed request.

A better challenger passes the gates, is promoted and the running service hot-swaps to it; a worse one
(shuffled labels) is refused by the gates and the service keeps answering with the promoted version.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from nlpops.checklist import RegistrySettings
from nlpops.data import Dataset, bundled_dataset, read_dataset
from nlpops.registry import open_registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_support import clean_env, cli_server

NLPOPS = str(Path(sys.executable).parent / "nlpops")
POLL_INTERVAL_S = 0.2
CONFIG = """\
version: 1
name: spam
model:
  tfidf:
    char_ngrams: false
    c: 5.0
retraining:
  min_macro_f1: 0.5
  max_regression: 0.01
  max_latency_regression: 10.0  # p50 on a busy 2-core machine is noise; quality decides here
"""


def _write_csv(path: Path, texts: list[str], labels: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels, strict=True))
    return path


def _run(*args: str, cwd: Path, env: dict[str, str]) -> dict:
    result = subprocess.run([NLPOPS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return dict(json.loads(result.stdout))


def _wait_for(condition: Callable[[], bool], timeout_s: float, message: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


class Client(threading.Thread):
    """Sends classify requests one after another until stopped; keeps every answer's version or failure."""

    def __init__(self, url: str, texts: list[str]) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.texts = texts
        self.versions: list[str] = []
        self.failures: list[str] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            i = 0
            while not self._stop_event.is_set():
                chunk = self.texts[i % len(self.texts) : i % len(self.texts) + 4]
                i += 4
                try:
                    response = http.post("/v1/classify", json={"texts": chunk})
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if response.status_code != 200:
                    self.failures.append(f"HTTP {response.status_code}: {response.text}")
                    continue
                self.versions.append(response.json()["version"])
                time.sleep(0.01)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=60)


@pytest.mark.slow
def test_retrain_promotes_and_hot_swaps_then_refuses_a_worse_challenger(tmp_path: Path) -> None:
    train = read_dataset(bundled_dataset("sms_spam", "train"))
    test = read_dataset(bundled_dataset("sms_spam", "test"))
    old = _write_csv(tmp_path / "old.csv", train.texts[:300], train.labels[:300])
    new = _write_csv(tmp_path / "new.csv", train.texts[300:2000], train.labels[300:2000])
    holdout = _write_csv(tmp_path / "holdout.csv", test.texts[:400], test.labels[:400])
    rows = Dataset(train.texts[:2000], train.labels[:2000])
    shuffled_labels = list(rows.labels)
    random.Random(0).shuffle(shuffled_labels)
    shuffled = _write_csv(tmp_path / "shuffled.csv", rows.texts, shuffled_labels)
    (tmp_path / "nlpops.yaml").write_text(CONFIG, encoding="utf-8")
    home = tmp_path / "home"
    env = clean_env(NLPOPS_HOME=str(home), NLPOPS_SERVING__POLL_INTERVAL_S=str(POLL_INTERVAL_S))
    retrain = ("retrain", "--config", "nlpops.yaml", "--test", str(holdout), "--json")

    first = _run(*retrain, "--data", str(old), cwd=tmp_path, env=env)
    assert first["promoted"] and first["challenger_version"] == 1

    with cli_server(["spam@production", "--config", "nlpops.yaml"], env, tmp_path / "serve.log", cwd=tmp_path) as url:
        client = Client(url, test.texts[400:800])
        client.start()
        try:
            _wait_for(lambda: len(client.versions) >= 5, 60, "the client got no answers")
            better = _run(*retrain, "--data", str(new), "--old", str(old), cwd=tmp_path, env=env)
            assert better["promoted"], better
            assert (better["challenger_version"], better["decided_by"]) == (2, "all gates passed")
            _wait_for(lambda: client.versions[-1] == "2", 60, "the service did not hot-swap to version 2")

            worse = _run(*retrain, "--data", str(shuffled), cwd=tmp_path, env=env)
            assert not worse["promoted"] and worse["challenger_version"] == 3
            assert worse["decided_by"] in {"min_macro_f1", "max_regression"}, worse
            answered = len(client.versions)
            _wait_for(lambda: len(client.versions) >= answered + 20, 60, "the client stopped getting answers")
            time.sleep(POLL_INTERVAL_S * 5)  # several polls after the refusal
            status = httpx.get(f"{url}/v1/status", timeout=30).json()
            metrics = httpx.get(f"{url}/metrics", timeout=30).text
        finally:
            client.stop()

    assert client.failures == []
    swap = client.versions.index("2")
    assert set(client.versions[:swap]) == {"1"} and set(client.versions[swap:]) == {"2"}  # one switch, for good
    assert len(client.versions) - swap >= 20
    assert status["version"] == "2" and status["model"] == "spam"
    assert 'nlpops_model_swaps_total{model="spam"} 1.0' in metrics
    assert open_registry(RegistrySettings(home=home)).alias_target("spam", "production") == 2
