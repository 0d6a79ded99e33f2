"""The serving conformance suite (``nlpops.testing.serving``) against the ASGI front end, over a real socket.

The Ray Serve front end runs the same suite in ``tests/deploy/test_serve_ray.py`` and must answer byte for
byte what this front end answers.
"""

from __future__ import annotations

from nlpops.bundle import Bundle
from nlpops.testing.serving import AsgiFrontEnd, check_serving_conformance


def test_asgi_front_end_passes_the_serving_conformance_suite(tiny_bundle: Bundle, tiny_set: Bundle) -> None:
    answers = check_serving_conformance(AsgiFrontEnd(), tiny_bundle, tiny_set)
    assert answers["503_queue_full"].headers["retry-after"] == "1"
    assert [p["lang"] for p in answers["set_classify"].json()["predictions"]] == ["en", "de", "und"]
