"""The HTTP surface is public: the OpenAPI document of a default service is pinned by a snapshot.

After an intended change of routes or schemas, regenerate with:
``UPDATE_SNAPSHOTS=1 pytest tests/serve/test_openapi_snapshot.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nlpops.checklist import ServingSettings
from nlpops.serve import service_routes
from nlpops.serve.decode import RequestLimits
from nlpops.serve.openapi import build_openapi

SNAPSHOT = Path(__file__).parent / "openapi.snapshot.json"


def test_openapi_document_matches_the_snapshot() -> None:
    serving = ServingSettings()
    limits = RequestLimits(serving.max_texts_per_request, serving.max_chars_per_text, serving.truncate)
    routes = service_routes(status_routes=True)
    document = build_openapi(limits, auth=True, protect_metrics=True, routes=routes)
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert SNAPSHOT.read_text(encoding="utf-8") == text, "the HTTP API changed: review and update the snapshot"
