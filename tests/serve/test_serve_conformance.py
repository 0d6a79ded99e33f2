"""The serving conformance suite (``nlpops.testing.serving``) against the ASGI front end, over a real socket.

The Ray Serve front end runs the same suite in ``tests/deploy/test_serve_ray.py`` and must answer byte for
byte what this front end answers.
"""

from __future__ import annotations

import orjson

from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.serve import build_app, bundle_source
from nlpops.testing.serving import AsgiFrontEnd, check_serving_conformance


def test_asgi_front_end_passes_the_serving_conformance_suite(tiny_bundle: Bundle, tiny_set: Bundle) -> None:
    answers = check_serving_conformance(AsgiFrontEnd(), tiny_bundle, tiny_set)
    assert answers["503_queue_full"].headers["retry-after"] == "1"
    assert [p["lang"] for p in answers["set_classify"].json()["predictions"]] == ["en", "de", "und"]


def test_openapi_paths_are_the_route_table(tiny_bundle: Bundle) -> None:
    app = build_app(bundle_source(tiny_bundle.path), ServingSettings(), MonitoringSettings(), follow=False)
    paths = orjson.loads(app.core.openapi)["paths"]
    documented = {(path, method.upper()) for path, operations in paths.items() for method in operations}
    routed = {(route.path, route.method) for route in app.core.route_table}
    assert documented == routed - {("/openapi.json", "GET"), ("/docs", "GET")}
