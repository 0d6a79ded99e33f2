"""The serving conformance suite (``nlpops.testing.serving``) against nlpops' HTTP protocol (what ``nlpops
serve`` runs) and the ASGI app under uvicorn's own protocol, over a real socket: both answer byte for byte alike.

The Ray Serve front end runs the same suite in ``tests/deploy/test_serve_ray.py`` and must answer byte for
byte what these front ends answer.
"""

from __future__ import annotations

import orjson

from nlpops.bundle import Bundle
from nlpops.checklist import MonitoringSettings, ServingSettings
from nlpops.serve import build_app, bundle_source
from nlpops.testing.serving import AsgiFrontEnd, HttpFrontEnd, check_serving_conformance


def test_http_and_asgi_front_ends_pass_the_serving_conformance_suite_alike(
    tiny_bundle: Bundle, tiny_set: Bundle
) -> None:
    answers = check_serving_conformance(HttpFrontEnd(), tiny_bundle, tiny_set)
    assert answers["503_queue_full"].headers["retry-after"] == "1"
    assert [p["lang"] for p in answers["set_classify"].json()["predictions"]] == ["en", "de", "und"]
    asgi = check_serving_conformance(AsgiFrontEnd(), tiny_bundle, tiny_set)
    assert asgi.keys() == answers.keys()
    for case, answer in answers.items():
        assert asgi[case] == answer, case


def test_openapi_paths_are_the_route_table(tiny_bundle: Bundle) -> None:
    app = build_app(bundle_source(tiny_bundle.path), ServingSettings(), MonitoringSettings(), follow=False)
    paths = orjson.loads(app.core.openapi)["paths"]
    documented = {(path, method.upper()) for path, operations in paths.items() for method in operations}
    routed = {(route.path, route.method) for route in app.core.route_table}
    assert documented == routed - {("/openapi.json", "GET"), ("/docs", "GET")}
