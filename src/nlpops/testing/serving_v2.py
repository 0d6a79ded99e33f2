"""The Open Inference Protocol (``/v2``) cases of the serving conformance suite.

:func:`nlpops.testing.serving.check_serving_conformance` sends these next to its ``/v1`` cases, to the same
services: the V2 answers must carry the same labels and scores as ``/v1/classify``, the protocol's error
body ``{"error": "..."}`` with the core's statuses (401, 404 for another model or version, 413, 503 with
``Retry-After``), and per-text languages for a model set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from nlpops.bundle import Bundle

Ask = Callable[..., Any]
"""``ask(client, method, path, *, body=None, **headers) -> Answer`` (the suite's request helper)."""


def _infer(texts: list[str], outputs: list[str] | None = None, **parameters: str) -> dict[str, Any]:
    body: dict[str, Any] = {"inputs": [{"name": "text", "shape": [len(texts)], "datatype": "BYTES", "data": texts}]}
    if outputs is not None:
        body["outputs"] = [{"name": name} for name in outputs]
    if parameters:
        body["parameters"] = parameters
    return body


def single_model_v2(
    client: httpx.Client, ask: Ask, name: str, version: str, texts: list[str], key: str
) -> dict[str, Any]:
    """The V2 cases for the single model (API keys, tight limits: 3 texts, 50 characters, 200 bytes, queue 2)."""
    auth = {"x-api-key": key}
    model = f"/v2/models/{name}"
    versioned = f"{model}/versions/{version}"
    return {
        "v2_live": ask(client, "GET", "/v2/health/live"),
        "v2_ready": ask(client, "GET", "/v2/health/ready"),
        "v2_server_metadata": ask(client, "GET", "/v2"),
        "v2_model_metadata": ask(client, "GET", model, **auth),
        "v2_model_metadata_version": ask(client, "GET", versioned, **auth),
        "v2_model_ready": ask(client, "GET", f"{model}/ready", **auth),
        "v2_model_ready_version": ask(client, "GET", f"{versioned}/ready", **auth),
        "v2_infer": ask(client, "POST", f"{model}/infer", body=_infer(texts), **auth),
        "v2_infer_version": ask(
            client, "POST", f"{versioned}/infer", body=_infer(texts[:1], ["probabilities"]), **auth
        ),
        "v2_400_invalid_json": ask(client, "POST", f"{model}/infer", body=b"{not json", **auth),
        "v2_400_wrong_input": ask(client, "POST", f"{model}/infer", body={"inputs": [{"name": "x"}]}, **auth),
        "v2_400_unknown_output": ask(client, "POST", f"{model}/infer", body=_infer(["a"], ["nope"]), **auth),
        "v2_401_no_key": ask(client, "POST", f"{model}/infer", body=_infer(["a"])),
        "v2_404_model": ask(client, "POST", "/v2/models/other/infer", body=_infer(["a"]), **auth),
        "v2_404_version": ask(client, "GET", f"{model}/versions/999999/ready", **auth),
        "v2_405_wrong_method": ask(client, "GET", f"{model}/infer", **auth),
        "v2_413_too_many_texts": ask(client, "POST", f"{model}/infer", body=_infer(["a"] * 4), **auth),
        "v2_503_queue_full": ask(client, "POST", f"{model}/infer", body=_infer(["a", "b", "c"]), **auth),
    }


def check_single_model_v2(answers: dict[str, Any], bundle: Bundle, labels: list[str]) -> None:
    """The V2 answers of the single model agree with the protocol and with ``/v1/classify``."""
    name, version = bundle.manifest.name, bundle.manifest.version

    def ok(case: str) -> Any:
        answer = answers[case]
        assert answer.status == 200, f"{case}: HTTP {answer.status}: {answer.body[:300]!r}"
        return answer.json()

    def error(case: str, status: int) -> None:
        answer = answers[case]
        assert answer.status == status, f"{case}: HTTP {answer.status}, expected {status}: {answer.body[:300]!r}"
        document = answer.json()
        assert list(document) == ["error"] and isinstance(document["error"], str) and document["error"], case

    assert ok("v2_live") == {"live": True} and ok("v2_ready") == {"ready": True}
    assert ok("v2_server_metadata")["name"] == "nlpops"
    for case in ("v2_model_metadata", "v2_model_metadata_version"):
        metadata = ok(case)
        assert (metadata["name"], metadata["versions"]) == (name, [version]), case
        assert metadata["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}], case
        assert [o["name"] for o in metadata["outputs"]] == ["label", "score", "lang", "probabilities"], case
    for case in ("v2_model_ready", "v2_model_ready_version"):
        assert ok(case) == {"name": name, "ready": True}, case
    classified = answers["classify"].json()["predictions"]  # the same two texts through /v1/classify
    infer = ok("v2_infer")
    assert (infer["model_name"], infer["model_version"]) == (name, version)
    outputs = {o["name"]: o for o in infer["outputs"]}
    assert list(outputs) == ["label", "score"]
    assert outputs["label"]["data"] == [p["label"] for p in classified]
    assert outputs["score"]["data"] == [p["score"] for p in classified]
    assert (outputs["label"]["datatype"], outputs["score"]["datatype"]) == ("BYTES", "FP32")
    (probabilities,) = ok("v2_infer_version")["outputs"]
    assert probabilities["shape"] == [1, len(labels)]
    assert probabilities["data"] == [classified[0]["scores"][label] for label in labels]
    for case in ("v2_400_invalid_json", "v2_400_wrong_input", "v2_400_unknown_output"):
        error(case, 400)
    error("v2_401_no_key", 401)
    assert answers["v2_401_no_key"].headers.get("www-authenticate") == "Bearer"
    for case in ("v2_404_model", "v2_404_version"):
        error(case, 404)
    error("v2_405_wrong_method", 405)
    assert answers["v2_405_wrong_method"].headers.get("allow") == "POST"
    error("v2_413_too_many_texts", 413)
    error("v2_503_queue_full", 503)
    assert answers["v2_503_queue_full"].headers.get("retry-after") == "1"


def model_set_v2(client: httpx.Client, ask: Ask, name: str, texts: list[str]) -> dict[str, Any]:
    """The V2 cases for a model set: every output, with and without the ``lang`` parameter."""
    outputs = ["label", "lang"]
    return {
        "set_v2_infer": ask(client, "POST", f"/v2/models/{name}/infer", body=_infer(texts, outputs)),
        "set_v2_infer_lang": ask(client, "POST", f"/v2/models/{name}/infer", body=_infer(texts, outputs, lang="de-AT")),
    }


def check_model_set_v2(answers: dict[str, Any]) -> None:
    """A model set's V2 answers carry the labels and per-text languages of ``/v1/classify``."""
    for case, v1 in (("set_v2_infer", "set_classify"), ("set_v2_infer_lang", "set_classify_lang")):
        assert answers[case].status == 200, f"{case}: HTTP {answers[case].status}: {answers[case].body[:300]!r}"
        outputs = {o["name"]: o["data"] for o in answers[case].json()["outputs"]}
        predictions = answers[v1].json()["predictions"]
        assert outputs == {"label": [p["label"] for p in predictions], "lang": [p["lang"] for p in predictions]}, case


__all__ = ["check_model_set_v2", "check_single_model_v2", "model_set_v2", "single_model_v2"]
