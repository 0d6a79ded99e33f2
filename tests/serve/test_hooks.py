"""Service hooks over a real socket: the status routes exist only with hooks, observe runs once per request."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from serve_support import live_server

from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, RegistrySettings, ServingSettings
from nlpops.errors import ConfigError
from nlpops.runtimes import load_predictor
from nlpops.serve import Observation, ServiceApp, ServiceHooks, ServiceView, build_app, bundle_source
from nlpops.serve.server import hooks_from_path

KEY = "hook-key"
SECRET = "jane@example.com"


class RecordingHooks:
    """A real ServiceHooks implementation that keeps what the service hands it."""

    def __init__(self, view: ServiceView) -> None:
        self.view = view
        self.observed: list[Observation] = []
        self.events: list[str] = []

    def observe(self, observation: Observation) -> None:
        self.observed.append(observation)

    def status(self) -> dict[str, Any]:
        current = self.view.current_model()
        return {"version": current.version if current else None, "observed": len(self.observed)}

    def page(self) -> bytes:
        return b"<!doctype html><title>status</title>"

    def redact_payload(self, texts: Sequence[str]) -> list[str]:
        return [text.replace(SECRET, "<EMAIL>") for text in texts]

    def start(self) -> None:
        self.events.append("start")

    def close(self) -> None:
        self.events.append("close")


def _app(bundle: Bundle, *, hooks: bool, **serving: Any) -> ServiceApp:
    monitoring = MonitoringSettings.model_validate(serving.pop("monitoring", {}))
    return build_app(
        bundle_source(bundle.path),
        ServingSettings.model_validate(serving),
        monitoring,
        follow=False,
        hooks=RecordingHooks if hooks else None,
    )


def test_hooks_observe_each_classify_request_once_with_its_probabilities(tiny_bundle: Bundle) -> None:
    app = _app(tiny_bundle, hooks=True)
    hooks = app.hooks
    assert isinstance(hooks, RecordingHooks) and isinstance(hooks, ServiceHooks)
    texts = ["I lost my card", "what is the exchange rate", "hello"]
    with live_server(app) as url:
        assert hooks.events == ["start"]
        for body in ({"texts": texts}, {"text": texts[0], "lang": "de"}):
            assert httpx.post(f"{url}/v1/classify", json=body).status_code == 200
        assert httpx.post(f"{url}/v1/classify", json={"texts": []}).status_code == 422  # not observed
        status = httpx.get(f"{url}/v1/status")
    assert hooks.events == ["start", "close"]
    assert status.status_code == 200 and status.json() == {"version": tiny_bundle.manifest.version, "observed": 2}
    predictor = load_predictor(tiny_bundle.path)
    first, single = hooks.observed
    assert first.texts == texts and list(first.labels) == list(predictor.labels) and first.langs == "en"
    assert (first.model, first.version) == ("tiny", tiny_bundle.manifest.version)
    np.testing.assert_allclose(first.proba, predictor.predict_proba(texts), atol=1e-12)
    assert single.texts == texts[:1] and single.langs == "other"  # "de" is not a language of the model: one bucket
    # the hooks see the live model and the metrics registry, not the app
    assert set(vars(hooks.view)) == {"current_model", "metrics_registry"}


def test_hooks_add_status_routes_and_openapi_only_when_present(tiny_bundle: Bundle) -> None:
    with live_server(_app(tiny_bundle, hooks=False)) as url:
        assert httpx.get(f"{url}/").status_code == 404
        assert httpx.get(f"{url}/v1/status").json()["error"]["code"] == "not_found"
        assert {"/", "/v1/status"}.isdisjoint(httpx.get(f"{url}/openapi.json").json()["paths"])
    with live_server(_app(tiny_bundle, hooks=True, api_keys=[KEY])) as url:
        page = httpx.get(f"{url}/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert httpx.get(f"{url}/v1/status").status_code == 401  # behind the keys, like /v1/models
        assert httpx.get(f"{url}/v1/status", headers={"X-API-Key": KEY}).status_code == 200
        assert httpx.post(f"{url}/v1/status", headers={"X-API-Key": KEY}).status_code == 405
        paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    assert paths["/"]["get"]["security"] == [] and paths["/v1/status"]["get"]["security"]


def test_payload_logging_is_redacted_by_the_hooks(tiny_bundle: Bundle, caplog: pytest.LogCaptureFixture) -> None:
    text = f"please mail {SECRET} about my card"
    logged = {"log_payloads": True, "pii_redaction": True}
    caplog.set_level(logging.INFO, logger="nlpops.serve")
    with live_server(_app(tiny_bundle, hooks=True, monitoring=logged)) as url:
        assert httpx.post(f"{url}/v1/classify", json={"text": text}).status_code == 200
    assert "please mail <EMAIL> about my card" in caplog.text and SECRET not in caplog.text
    caplog.clear()
    with live_server(_app(tiny_bundle, hooks=False, monitoring=logged)) as url:  # cannot redact: logs no texts
        assert httpx.post(f"{url}/v1/classify", json={"text": text}).status_code == 200
    assert SECRET not in caplog.text and "texts are not logged" in caplog.text
    caplog.clear()
    with live_server(_app(tiny_bundle, hooks=False, monitoring={"log_payloads": True})) as url:
        assert httpx.post(f"{url}/v1/classify", json={"text": text}).status_code == 200
    assert SECRET in caplog.text


@pytest.mark.parametrize(
    ("dotted", "message"),
    [
        ("nlpops.monitor.service", "must look like"),
        ("nlpops.no_such_module:hooks", "Cannot import"),
        ("nlpops.monitor.service:no_such_function", "has no callable"),
    ],
)
def test_hooks_path_errors_are_config_errors(dotted: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        hooks_from_path(dotted, MonitoringSettings(), RegistrySettings())


def test_hooks_path_builds_monitoring_for_workers(tiny_bundle: Bundle, tmp_path: Path) -> None:
    monitoring = MonitoringSettings(stats_path=tmp_path / "m.db")
    factory = hooks_from_path("nlpops.monitor.service:hooks_for", monitoring, RegistrySettings())
    assert factory is not None and hooks_from_path(None, monitoring, RegistrySettings()) is None
    app = build_app(bundle_source(tiny_bundle.path), ServingSettings(), monitoring, follow=False, hooks=factory)
    with live_server(app) as url:
        assert httpx.post(f"{url}/v1/classify", json={"texts": ["hello"] * 3}).status_code == 200
        status = httpx.get(f"{url}/v1/status").json()
    assert status["model"] == "tiny" and status["traffic"]["texts_in_window"] == 3
    assert (tmp_path / "m.db").is_file()  # closing the hooks flushed the live statistics
