"""The Open Inference Protocol's operations and schemas in the service's OpenAPI document.

:func:`nlpops.serve.openapi.build_openapi` adds these to its own operations; the routes are
:func:`nlpops.serve.v2.v2_routes`. Error bodies follow the protocol: ``{"error": "..."}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nlpops.serve.decode import RequestLimits

if TYPE_CHECKING:
    from nlpops.serve.core import Route

_JSON = "application/json"
Operation = Callable[..., dict[str, Any]]
"""``op(summary, responses, *, secured, **extra)``: an OpenAPI operation (401 added when secured)."""


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": {"$ref": "#/components/schemas/V2Error"}}}}


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _path_parameters(route: Route) -> list[dict[str, Any]]:
    names = [part[1:-1] for part in route.path.split("/") if part.startswith("{")]
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in names]


def v2_operations(
    op: Operation, secured: Callable[[Route], bool], limits: RequestLimits
) -> dict[str, Callable[[Route], dict[str, Any]]]:
    """The V2 operations by operation id.

    Args:
        op: builds one operation (adds 401 and the security requirement when secured).
        secured: whether a route needs an API key.
        limits: the per-request limits (maxItems and maxLength of the ``text`` input).
    """

    def v2_op(summary: str, responses: dict[str, Any], *, secured: bool, **extra: Any) -> dict[str, Any]:
        operation = op(summary, responses, secured=secured, **extra)
        if "401" in operation["responses"]:  # the protocol's error body, here too
            operation["responses"]["401"] = _error("Missing or invalid API key")
        return operation

    unknown = {"404": _error("The path names another model or version than the one served")}
    loading = {"503": _error("The model is still loading; retry after Retry-After seconds")}

    def model_op(route: Route, summary: str, ok: dict[str, Any], **extra: Any) -> dict[str, Any]:
        responses = {"200": ok, **unknown, **loading, **extra.pop("responses", {})}
        operation_id = route.operation_id if "{version}" not in route.path else f"{route.operation_id}_version"
        return v2_op(
            summary,
            responses,
            secured=secured(route),
            operationId=operation_id,
            parameters=_path_parameters(route),
            **extra,
        )

    return {
        "v2_live": lambda route: v2_op(
            "V2 server live", {"200": _ok("Live", "V2Live")}, secured=secured(route), operationId="v2_live"
        ),
        "v2_ready": lambda route: v2_op(
            "V2 server ready: the model is loaded and warm",
            {"200": _ok("Ready", "V2Ready"), "503": _error("Not ready yet")},
            secured=secured(route),
            operationId="v2_ready",
        ),
        "v2_server_metadata": lambda route: v2_op(
            "V2 server metadata",
            {"200": _ok("The server", "V2ServerMetadata")},
            secured=secured(route),
            operationId="v2_server_metadata",
        ),
        "v2_model_metadata": lambda route: model_op(
            route, "V2 model metadata: inputs, outputs, versions", _ok("The model", "V2ModelMetadata")
        ),
        "v2_model_ready": lambda route: model_op(route, "V2 model ready", _ok("Ready", "V2ModelReady")),
        "v2_infer": lambda route: model_op(
            route,
            "V2 inference: labels and scores (and probabilities, languages on request) for a BYTES tensor of texts",
            _ok("The outputs", "V2InferResponse"),
            responses={
                "400": _error("Not a valid V2 request for this model (the message names the field)"),
                "413": _error("Body, number of texts or a text too large"),
                "422": _error("A text is empty or not a string"),
            },
            requestBody={"required": True, "content": {_JSON: {"schema": _infer_request(limits)}}},
        ),
    }


def _infer_request(limits: RequestLimits) -> dict[str, Any]:
    text: dict[str, Any] = {"type": "string", "minLength": 1}
    if not limits.truncate:
        text["maxLength"] = limits.max_chars_per_text
    tensor = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "shape", "datatype", "data"],
        "properties": {
            "name": {"type": "string", "enum": ["text"]},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1, "maxItems": 1},
            "datatype": {"type": "string", "enum": ["BYTES"]},
            "parameters": {"$ref": "#/components/schemas/V2Parameters"},
            "data": {"type": "array", "items": text, "minItems": 1, "maxItems": limits.max_texts_per_request},
        },
    }
    output = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "enum": ["label", "score", "lang", "probabilities"]},
            "parameters": {"$ref": "#/components/schemas/V2Parameters"},
        },
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {"$ref": "#/components/schemas/V2Parameters"},
            "inputs": {"type": "array", "items": tensor, "minItems": 1, "maxItems": 1},
            "outputs": {"type": "array", "items": output, "minItems": 1, "maxItems": 4, "uniqueItems": True},
        },
    }


_TENSOR_FIELDS: dict[str, Any] = {
    "name": {"type": "string"},
    "datatype": {"type": "string"},
    "shape": {"type": "array", "items": {"type": "integer"}},
}
_TENSOR = {"type": "object", "required": ["name", "datatype", "shape"], "properties": _TENSOR_FIELDS}

V2_SCHEMAS: dict[str, Any] = {
    "V2Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "V2Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    "V2Ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
    "V2ModelReady": {
        "type": "object",
        "required": ["name", "ready"],
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    },
    "V2Parameters": {
        "type": "object",
        "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
    },
    "V2ServerMetadata": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "V2ModelMetadata": {
        "type": "object",
        "required": ["name", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": _TENSOR},
            "outputs": {"type": "array", "items": _TENSOR},
            "properties": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "V2InferResponse": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "datatype", "shape", "data"],
                    "properties": {
                        **_TENSOR_FIELDS,
                        "parameters": {"$ref": "#/components/schemas/V2Parameters"},
                        "data": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "number"}]}},
                    },
                },
            },
        },
    },
}
"""The V2 schemas (added to ``components.schemas``)."""


__all__ = ["V2_SCHEMAS", "v2_operations"]
