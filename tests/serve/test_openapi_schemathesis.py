"""A schemathesis run against the live service's /openapi.json: no 5xx, no response that violates the schema.

With monitoring hooks the document also describes ``GET /`` and ``GET /v1/status``, checked the same way.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from serve_support import live_server

from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.monitor import monitor_hooks
from nlpops.serve import build_app, bundle_source

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


@pytest.mark.slow
@pytest.mark.parametrize(("api_keys", "monitored"), [([], False), (["k1"], False), (["k1"], True)])
def test_openapi_document_matches_the_service(
    tiny_bundle: Bundle, tmp_path: Path, api_keys: list[str], monitored: bool
) -> None:
    # 413 (too many / too long texts), 415 (not application/json) and 404 (a /v2 path naming another model) are
    # documented
    # a V2 input's shape must agree with its number of texts, which a schema cannot say: 400 is a valid answer there
    (tmp_path / "schemathesis.toml").write_text(
        "[checks.negative_data_rejection]\nexpected-statuses = [400, 401, 404, 405, 413, 415, 422]\n\n"
        '[[operations]]\ninclude-operation-id = ["v2_infer", "v2_infer_version"]\n'
        "checks.positive_data_acceptance.expected-statuses = [200, 400, 401, 404]\n",
        encoding="utf-8",
    )
    serving = ServingSettings.model_validate(
        {"api_keys": api_keys, "max_texts_per_request": 8, "max_chars_per_text": 200}
    )
    hooks = monitor_hooks() if monitored else None
    app = build_app(bundle_source(tiny_bundle.path), serving, MonitoringSettings(), follow=False, hooks=hooks)
    with live_server(app) as url:
        result = subprocess.run(
            [
                SCHEMATHESIS,
                "run",
                f"{url}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                "40",
                "--generation-deterministic",
                *(["--header", "X-API-Key: k1"] if api_keys else []),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
        )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
