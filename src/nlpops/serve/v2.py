"""The Open Inference Protocol (KServe V2, REST): the same service for KServe, Triton and MLServer clients.

The model takes one input, ``text``: a ``BYTES`` tensor of texts, shape ``[n]`` (or ``[n, 1]``), sent as JSON
``data``. It answers up to four outputs: ``label`` (``BYTES [n]``: the most probable label), ``score``
(``FP32 [n]``: its probability), ``lang`` (``BYTES [n]``: the language each text was answered as, ``und`` when
unknown; a model set: the language whose model answered, ``und`` for its fallback)
and ``probabilities`` (``FP32 [n, k]``: every label's probability, columns in the model's label
order, which the model metadata gives in ``properties.labels``). Without ``outputs`` in the request the answer
holds ``label`` and ``score``; ``probabilities`` and ``lang`` come on request. The request parameter
``lang`` is the language hint of ``/v1/classify``.

Inference runs through the core like ``/v1/classify`` (auth, limits, batcher, metrics, hooks). Errors are
the protocol's ``{"error": "..."}`` with the same HTTP statuses; a model name or version that is not the one
served is 404. Binary tensor data (Triton's extension) is not supported: send texts as JSON (tritonclient:
``set_data_from_numpy(array, binary_data=False)``); a request for binary outputs is answered in JSON, which
clients read alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeGuard

import orjson

from nlpops._version import __version__
from nlpops.errors import RequestError
from nlpops.serve.core import (
    JSON_HEADERS,
    Exchange,
    HttpError,
    InferenceEndpoint,
    Prediction,
    Reply,
    Route,
    ServingCore,
)
from nlpops.serve.decode import RequestLimits, check_text
from nlpops.serve.source import LoadedModel
from nlpops.tasks import TASKS

INPUT = "text"
"""The name of the model's one input tensor."""
OUTPUTS = ("label", "score", "lang", "probabilities")
"""The outputs a request may ask for."""
DEFAULT_OUTPUTS = ("label", "score")
"""The outputs answered when a request names none."""
_DATATYPES = {"label": "BYTES", "score": "FP32", "lang": "BYTES", "probabilities": "FP32"}
_REQUEST_FIELDS = frozenset({"id", "parameters", "inputs", "outputs"})
_INPUT_FIELDS = frozenset({"name", "shape", "datatype", "parameters", "data"})


@dataclass(frozen=True, slots=True)
class V2InferRequest:
    """A decoded V2 inference request.

    Attributes:
        texts: the texts (the ``text`` input, flattened).
        lang: the ``lang`` request parameter (a language hint), or None.
        id: the request's ``id``, echoed in the answer.
        outputs: the output names to answer, in order.
    """

    texts: list[str]
    lang: str | None
    id: str | None
    outputs: tuple[str, ...]


def v2_error_document(status: int, message: str) -> bytes:
    """The protocol's error body: ``{"error": message}`` (the status is the HTTP status)."""
    return orjson.dumps({"error": message})


def decode_v2(body: bytes, limits: RequestLimits) -> V2InferRequest:
    """Decode and check a V2 inference request (JSON tensors only).

    Args:
        body: the raw request body.
        limits: the per-request limits (number of texts, characters per text).

    Returns:
        The texts, the language hint, the id and the outputs to answer.

    Raises:
        RequestError: 400 for a body that is not a valid V2 request for this model; 413 too many or too long
            texts; 422 a text that is not a non-empty string.
    """
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"The body is not valid JSON ({exc}). Send a V2 inference request object.", 400) from exc
    if not isinstance(data, dict):
        raise RequestError('The body must be a JSON object like {"inputs": [{"name": "text", ...}]}.', 400)
    unknown = sorted(set(data) - _REQUEST_FIELDS)
    if unknown:
        raise RequestError(f'Unknown field "{unknown[0]}". Allowed: id, parameters, inputs, outputs.', 400)
    request_id = data.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RequestError('"id" must be a string.', 400)
    parameters = _parameters(data.get("parameters"), "parameters")
    lang = parameters.get("lang")
    if lang is not None and (not isinstance(lang, str) or not lang or len(lang) > 32):
        raise RequestError('"parameters.lang" must be a language code such as "en".', 400)
    texts = _texts(data.get("inputs"), limits)
    return V2InferRequest(texts, lang, request_id, _outputs(data.get("outputs")))


def _parameters(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(f'"{field}" must be an object of parameters.', 400)
    return value


def _texts(inputs: Any, limits: RequestLimits) -> list[str]:
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise RequestError(f'"inputs" must hold exactly one tensor, "{INPUT}" (BYTES, shape [n]).', 400)
    tensor = inputs[0]
    unknown = sorted(set(tensor) - _INPUT_FIELDS)
    if unknown:
        raise RequestError(f'Unknown field "inputs[0].{unknown[0]}". Allowed: {", ".join(sorted(_INPUT_FIELDS))}.', 400)
    if tensor.get("name") != INPUT:
        raise RequestError(f'The input is named {_shown(tensor.get("name"))}; this model takes "{INPUT}".', 400)
    if tensor.get("datatype") != "BYTES":
        raise RequestError(f'Input "{INPUT}" must have datatype "BYTES", got {_shown(tensor.get("datatype"))}.', 400)
    if "binary_data_size" in _parameters(tensor.get("parameters"), "inputs[0].parameters"):
        raise RequestError(
            "Binary tensor data is not supported: send the texts as JSON data "
            "(tritonclient: set_data_from_numpy(array, binary_data=False)).",
            400,
        )
    shape = tensor.get("shape")
    if not _is_shape(shape):
        raise RequestError(f'Input "{INPUT}" must have shape [n] or [n, 1], got {_shown(shape)}.', 400)
    raw = tensor.get("data")
    if not isinstance(raw, list):
        raise RequestError(f'"inputs[0].data" must be a list of texts, got {_shown(raw)}.', 400)
    flat = list(_flatten(raw, depth=len(shape)))
    if len(flat) != math.prod(shape):
        raise RequestError(f'Input "{INPUT}" has shape {shape} but {len(flat)} elements. Make them agree.', 400)
    if not flat:
        raise RequestError(f'Input "{INPUT}" is empty. Send at least one text.', 400)
    if len(flat) > limits.max_texts_per_request:
        raise RequestError(
            f'Input "{INPUT}" has {len(flat)} texts; the limit is {limits.max_texts_per_request} '
            "(serving.max_texts_per_request). Split the request.",
            413,
        )
    return [check_text(text, f"inputs[0].data[{i}]", limits) for i, text in enumerate(flat)]


def _is_shape(shape: Any) -> TypeGuard[list[int]]:
    if not isinstance(shape, list) or len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        return False
    return all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)


def _flatten(data: list[Any], depth: int) -> Iterator[Any]:
    for item in data:
        if isinstance(item, list):
            if depth <= 1:
                raise RequestError(f'"inputs[0].data" is nested deeper than the shape allows ({depth}).', 400)
            yield from _flatten(item, depth - 1)
        else:
            yield item


def _outputs(value: Any) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_OUTPUTS
    if not isinstance(value, list) or not value:
        raise RequestError(f'"outputs" must be a non-empty list like [{{"name": "label"}}]; names: {_names()}.', 400)
    names: list[str] = []
    for i, output in enumerate(value):
        name = output.get("name") if isinstance(output, dict) else None
        if name not in OUTPUTS:
            raise RequestError(f'"outputs[{i}]" names {_shown(name)}; this model answers {_names()}.', 400)
        _parameters(output.get("parameters"), f"outputs[{i}].parameters")
        if name in names:
            raise RequestError(f'"outputs" names "{name}" twice.', 400)
        names.append(name)
    return tuple(names)


def _names() -> str:
    return ", ".join(OUTPUTS)


def _shown(value: Any) -> str:
    text = orjson.dumps(value).decode() if value is not None else "nothing"
    return text if len(text) <= 60 else text[:57] + "..."


def encode_v2(prediction: Prediction[V2InferRequest]) -> bytes:
    """The V2 inference response: ``{"model_name", "model_version", "id"?, "outputs": [...]}``."""
    request = prediction.request
    n = len(request.texts)
    labels = prediction.labels
    outputs: list[dict[str, Any]] = []
    for name in request.outputs:
        shape: list[int] = [n]
        parameters: dict[str, Any] | None = None
        if name == "label":
            data: list[Any] = [labels[index] for index in prediction.best]
        elif name == "score":
            data = prediction.top
        elif name == "lang":
            routed = prediction.routing.langs if prediction.routing is not None else None
            data = [lang or "und" for lang in routed] if routed is not None else [prediction.lang or "und"] * n
        else:
            data = prediction.proba.ravel().tolist()
            shape = [n, len(labels)]
            parameters = {"labels": orjson.dumps(list(labels)).decode()}
        output: dict[str, Any] = {"name": name, "datatype": _DATATYPES[name], "shape": shape, "data": data}
        if parameters is not None:
            output["parameters"] = parameters
        outputs.append(output)
    model = prediction.model
    document: dict[str, Any] = {"model_name": model.name, "model_version": model.version, "outputs": outputs}
    if request.id is not None:
        document["id"] = request.id
    return orjson.dumps(document)


def model_metadata(model: LoadedModel) -> dict[str, Any]:
    """The V2 model metadata of the live model.

    A model of a task ``infer`` does not answer (entities, embeddings, multi-label) lists no inputs or outputs,
    so a client never builds a request it would be refused; ``properties`` name its task and its ``/v1`` endpoint.
    """
    predictor = model.predictor
    manifest = predictor.manifest
    labels = list(predictor.labels)
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    if predictor.task in V2_INFER.tasks:
        inputs = [{"name": INPUT, "datatype": "BYTES", "shape": [-1]}]
        outputs = [{"name": name, "datatype": _DATATYPES[name], "shape": [-1]} for name in OUTPUTS[:3]]
        outputs.append({"name": "probabilities", "datatype": "FP32", "shape": [-1, len(labels)]})
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": f"nlpops_{manifest.runtime}",
        "inputs": inputs,
        "outputs": outputs,
        "properties": {
            "task": predictor.task,
            "endpoint": TASKS[predictor.task].endpoint,
            "labels": orjson.dumps(labels).decode(),
            "languages": orjson.dumps(list(manifest.languages)).decode(),
            "family": manifest.family,
            "runtime": manifest.runtime,
            "bundle_version": manifest.version,
        },
    }


V2_INFER: InferenceEndpoint[V2InferRequest] = InferenceEndpoint(
    decode_v2, encode_v2, tasks=("classification",), content_type_optional=True
)
"""``POST /v2/models/{model}[/versions/{version}]/infer``."""


async def _live(core: ServingCore, exchange: Exchange) -> Reply:
    return 200, b'{"live":true}', JSON_HEADERS


async def _ready(core: ServingCore, exchange: Exchange) -> Reply:
    if core.reloader.current is None:
        raise HttpError(503, "Not ready: the model is still loading. Retry in a moment.")
    return 200, b'{"ready":true}', JSON_HEADERS


async def _server_metadata(core: ServingCore, exchange: Exchange) -> Reply:
    return 200, orjson.dumps({"name": "nlpops", "version": __version__, "extensions": []}), JSON_HEADERS


async def _model_metadata(core: ServingCore, exchange: Exchange, model: LoadedModel) -> Reply:
    return 200, orjson.dumps(model_metadata(model)), JSON_HEADERS


async def _model_ready(core: ServingCore, exchange: Exchange, model: LoadedModel) -> Reply:
    return 200, orjson.dumps({"name": model.name, "ready": True}), JSON_HEADERS


def v2_routes() -> list[Route]:
    """The Open Inference Protocol's routes (each also with ``/versions/{version}`` where the protocol has it)."""
    error = v2_error_document
    routes = [
        Route("/v2/health/live", "GET", "v2_live", handler=_live, error_body=error),
        Route("/v2/health/ready", "GET", "v2_ready", handler=_ready, error_body=error),
        Route("/v2", "GET", "v2_server_metadata", handler=_server_metadata, error_body=error),
    ]
    for model in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}"):
        routes += [
            Route(model, "GET", "v2_model_metadata", secured=True, model_handler=_model_metadata, error_body=error),
            Route(
                f"{model}/ready", "GET", "v2_model_ready", secured=True, model_handler=_model_ready, error_body=error
            ),
            Route(f"{model}/infer", "POST", "v2_infer", secured=True, endpoint=V2_INFER, error_body=error),
        ]
    return routes


__all__ = [
    "DEFAULT_OUTPUTS",
    "INPUT",
    "OUTPUTS",
    "V2_INFER",
    "V2InferRequest",
    "decode_v2",
    "encode_v2",
    "model_metadata",
    "v2_error_document",
    "v2_routes",
]
