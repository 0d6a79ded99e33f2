"""The service's OpenAPI 3 document and a self-contained docs page.

The document's paths are the service's route table (:func:`nlpops.serve.routes.service_routes`, the one the
core routes by); each route's ``operation_id`` picks its operation here, built from the limits the service
really enforces.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from nlpops._version import __version__
from nlpops.serve.decode import RequestLimits
from nlpops.serve.openapi_v2 import V2_SCHEMAS, v2_operations
from nlpops.tasks import TASK_NAMES

if TYPE_CHECKING:
    from nlpops.serve.core import Route

_JSON = "application/json"


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def build_openapi(
    limits: RequestLimits, *, auth: bool, protect_metrics: bool, routes: Sequence[Route]
) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the service.

    Args:
        limits: the per-request limits (they appear as maxItems/maxLength).
        auth: whether API keys are required (adds security schemes and 401 responses).
        protect_metrics: whether ``/metrics`` needs a key when ``auth`` is on.
        routes: the service's routes (each documented route's ``operation_id`` names its operation here).

    Returns:
        The document as a JSON-ready dict.

    Raises:
        KeyError: a route names an operation this module does not describe (a bug: describe it here).
    """
    security: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}] if auth else []
    unauthorized = {"401": _error_response("Missing or invalid API key")} if auth else {}

    def op(summary: str, responses: dict[str, Any], *, secured: bool, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"summary": summary, "responses": {**responses, **(unauthorized if secured else {})}}
        out["security"] = security if secured else []
        out.update(extra)
        return out

    def secured(route: Route) -> bool:
        return route.secured or (route.metrics and protect_metrics)

    plain_ok = {"200": {"description": "OK", "content": {_JSON: {"schema": _ref("Status")}}}}

    def inference(route: Route, summary: str, operation: str, response: str, extra: dict[str, Any]) -> dict[str, Any]:
        return op(
            summary,
            {
                "200": {"description": "One prediction per text", "content": {_JSON: {"schema": _ref(response)}}},
                "400": _error_response("The body is not valid JSON"),
                "409": _error_response("The model served is of another task (the message names its endpoint)"),
                "413": _error_response("Body, number of texts or a text too large"),
                "415": _error_response("The body is not sent as application/json"),
                "422": _error_response("A field is missing, empty or of the wrong type"),
                "503": _error_response("Queue full or model not loaded yet; retry after Retry-After seconds"),
            },
            secured=secured(route),
            operationId=operation,
            requestBody=_texts_body(limits, extra),
        )

    operations: dict[str, Callable[[Route], dict[str, Any]]] = {
        "classify": lambda route: inference(
            route,
            "Classify texts: the best label (classification) or every label above its threshold (multilabel)",
            "classify",
            "ClassifyResponse",
            {"return_scores": {"type": "boolean", "default": False, "description": "add every label's probability"}},
        ),
        "entities": lambda route: inference(
            route,
            "Named entities of texts: labelled character spans (entity models)",
            "entities",
            "EntitiesResponse",
            {},
        ),
        "embed": lambda route: inference(
            route,
            "One L2-normalised vector per text (embedding models)",
            "embed",
            "EmbedResponse",
            {
                "encoding": {
                    "type": "string",
                    "enum": ["float", "base64"],
                    "default": "float",
                    "description": "float: a list of numbers; base64: the vector's little-endian float32 bytes",
                }
            },
        ),
        "models": lambda route: op(
            "The model being served",
            {"200": {"description": "The live model", "content": {_JSON: {"schema": _ref("Models")}}}},
            secured=secured(route),
            operationId="models",
        ),
        "healthz": lambda route: op("Liveness", plain_ok, secured=secured(route), operationId="healthz"),
        "readyz": lambda route: op(
            "Readiness: a model is loaded and warm",
            {**plain_ok, "503": _error_response("Not ready yet")},
            secured=secured(route),
            operationId="readyz",
        ),
        "metrics": lambda route: op(
            "Prometheus metrics",
            {
                "200": {
                    "description": "Text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
            secured=secured(route),
            operationId="metrics",
        ),
        "status_page": lambda route: op(
            "Status page (HTML): model, traffic, latency, label and language mix, drift",
            {"200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}}},
            secured=secured(route),
            operationId="status_page",
        ),
        "status": lambda route: op(
            "Live status: model, uptime, traffic, latency, label and language mix, drift",
            {"200": {"description": "The status", "content": {_JSON: {"schema": _ref("ServiceStatus")}}}},
            secured=secured(route),
            operationId="status",
        ),
    }
    operations.update(v2_operations(op, secured, limits))
    paths: dict[str, Any] = {}
    for route in routes:
        if route.operation_id is not None:
            paths.setdefault(route.path, {})[route.method.lower()] = operations[route.operation_id](route)
    return {
        "openapi": "3.0.3",
        "info": {"title": "nlpops text model service", "version": __version__},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "schemas": {**_SCHEMAS, **V2_SCHEMAS},
        },
    }


def _texts_body(limits: RequestLimits, extra: dict[str, Any]) -> dict[str, Any]:
    text_schema: dict[str, Any] = {"type": "string", "minLength": 1}
    if not limits.truncate:
        text_schema["maxLength"] = limits.max_chars_per_text
    texts = {"type": "array", "items": text_schema, "minItems": 1, "maxItems": limits.max_texts_per_request}
    bodies = [_body({"texts": texts, **extra}, "texts"), _body({"text": text_schema, **extra}, "text")]
    return {"required": True, "content": {_JSON: {"schema": {"oneOf": bodies}}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(texts: dict[str, Any], required: str) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [required],
        "properties": {
            **texts,
            "lang": {
                "type": "string",
                "nullable": True,
                "minLength": 1,
                "maxLength": 32,
                "description": "the language of every text: a model set sends them to that language's model (its "
                "fallback when it has none) instead of detecting each text's; other models echo it (null: none)",
            },
        },
    }


_SCHEMAS: dict[str, Any] = {
    "Prediction": {
        "type": "object",
        "required": ["label", "score", "lang"],
        "properties": {
            "label": {"type": "string"},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "scores": {"type": "object", "additionalProperties": {"type": "number"}},
            "lang": {
                "type": "string",
                "nullable": True,
                "description": "a model set: the language whose model answered (und: the fallback); else the "
                "request's lang or the model's only language",
            },
            "detected_lang": {
                "type": "string",
                "nullable": True,
                "description": "a model set: the language detection found (null: the request stated lang)",
            },
            "lang_confidence": {
                "type": "number",
                "nullable": True,
                "minimum": 0,
                "maximum": 1,
                "description": "a model set: the detector's probability for detected_lang (null: not detected)",
            },
        },
    },
    "MultilabelPrediction": {
        "type": "object",
        "required": ["labels", "lang"],
        "properties": {
            "labels": {
                "type": "array",
                "description": "every label whose probability reaches its threshold, most probable first",
                "items": {
                    "type": "object",
                    "required": ["label", "score"],
                    "properties": {
                        "label": {"type": "string"},
                        "score": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                },
            },
            "scores": {"type": "object", "additionalProperties": {"type": "number"}},
            "lang": {"type": "string", "nullable": True},
        },
    },
    "ClassifyResponse": {
        "type": "object",
        "required": ["model", "version", "predictions"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "string"},
            "predictions": {
                "type": "array",
                "items": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Prediction"},
                        {"$ref": "#/components/schemas/MultilabelPrediction"},
                    ]
                },
            },
        },
    },
    "EntitiesResponse": {
        "type": "object",
        "required": ["model", "version", "predictions"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "string"},
            "predictions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["entities", "lang"],
                    "properties": {
                        "entities": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["start", "end", "label", "text", "score"],
                                "properties": {
                                    "start": {
                                        "type": "integer",
                                        "minimum": 0,
                                        "description": "offset of the first character in the text as sent "
                                        "(Unicode code points, as Python strings index them)",
                                    },
                                    "end": {"type": "integer", "minimum": 1, "description": "exclusive"},
                                    "label": {"type": "string", "description": "the entity type"},
                                    "text": {"type": "string", "description": "text[start:end]"},
                                    "score": {
                                        "type": "number",
                                        "minimum": 0,
                                        "maximum": 1,
                                        "description": "1.0 where the model gives no span confidence (spaCy "
                                        "NER); the mean probability of the span's tokens (token classifiers)",
                                    },
                                },
                            },
                        },
                        "lang": {"type": "string", "nullable": True},
                    },
                },
            },
        },
    },
    "EmbedResponse": {
        "type": "object",
        "required": ["model", "version", "dim", "encoding", "predictions"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "string"},
            "dim": {"type": "integer", "minimum": 0},
            "encoding": {"type": "string", "enum": ["float", "base64"]},
            "predictions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["vector", "lang"],
                    "properties": {
                        "vector": {
                            "description": "L2-normalised; float32 numbers, or base64 of little-endian float32 bytes",
                            "oneOf": [
                                {"type": "array", "items": {"type": "number"}},
                                {"type": "string", "format": "byte"},
                            ],
                        },
                        "lang": {"type": "string", "nullable": True},
                    },
                },
            },
        },
    },
    "Models": {
        "type": "object",
        "required": ["models"],
        "properties": {
            "models": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "version", "labels"],
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "bundle_version": {"type": "string"},
                        "family": {"type": "string"},
                        "runtime": {"type": "string"},
                        "task": {"type": "string", "enum": list(TASK_NAMES)},
                        "labels": {"type": "array", "items": {"type": "string"}},
                        "languages": {"type": "array", "items": {"type": "string"}},
                    },
                },
            }
        },
    },
    "Status": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
    "ServiceStatus": {
        "type": "object",
        "required": ["uptime_s", "model", "version", "traffic", "latency_ms", "label_counts", "languages", "drift"],
        "properties": {
            "uptime_s": {"type": "number", "minimum": 0},
            "model": {"type": "string", "nullable": True},
            "version": {"type": "string", "nullable": True},
            "family": {"type": "string"},
            "runtime": {"type": "string"},
            "labels": {"type": "array", "items": {"type": "string"}},
            "traffic": {"type": "object", "additionalProperties": {"type": "integer"}},
            "latency_ms": {"type": "object", "additionalProperties": {"type": "number", "nullable": True}},
            "label_counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "languages": {"type": "object", "additionalProperties": {"type": "integer"}},
            "drift": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string"}},
            },
            "history": {
                "type": "object",
                "description": "the last hour, one point per minute (oldest first), for the status page's charts",
                "required": ["minute_s", "psi_threshold", "points"],
                "properties": {
                    "minute_s": {"type": "number"},
                    "psi_threshold": {"type": "number"},
                    "points": {"type": "array", "items": {"$ref": "#/components/schemas/MinutePoint"}},
                },
            },
        },
    },
    "MinutePoint": {
        "type": "object",
        "required": ["t", "rps", "p50_ms", "p95_ms", "p99_ms", "errors", "drift_psi"],
        "properties": {
            "t": {"type": "number", "description": "the minute's start, Unix seconds"},
            "rps": {"type": "number", "minimum": 0},
            "p50_ms": {"type": "number", "nullable": True},
            "p95_ms": {"type": "number", "nullable": True},
            "p99_ms": {"type": "number", "nullable": True},
            "errors": {"type": "integer", "minimum": 0},
            "drift_psi": {"type": "number", "nullable": True},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
}


def docs_page(title: str) -> bytes:
    """A small self-contained page (no CDN): lists the routes and lets you try ``/v1/classify``."""
    safe = html.escape(title)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{safe}</title>
<style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}}pre,textarea{{width:100%}}</style>
</head><body>
<h1>{safe}</h1>
<p>Machine-readable description: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3).</p>
<ul id="routes"></ul>
<h2>Try it: POST /v1/classify</h2>
<p>API key (only if the service needs one): <input id="key" type="password"></p>
<textarea id="body" rows="4">{{"texts": ["my card has not arrived"], "return_scores": false}}</textarea>
<p><button id="send">Send</button></p>
<pre id="out"></pre>
<script>
fetch('/openapi.json').then(r => r.json()).then(doc => {{
  const ul = document.getElementById('routes');
  for (const [path, ops] of Object.entries(doc.paths)) {{
    for (const [method, op] of Object.entries(ops)) {{
      const li = document.createElement('li');
      li.textContent = method.toUpperCase() + ' ' + path + ' - ' + op.summary;
      ul.appendChild(li);
    }}
  }}
}});
document.getElementById('send').onclick = async () => {{
  const headers = {{'Content-Type': 'application/json'}};
  const key = document.getElementById('key').value;
  if (key) headers['X-API-Key'] = key;
  const r = await fetch('/v1/classify', {{method: 'POST', headers, body: document.getElementById('body').value}});
  document.getElementById('out').textContent = r.status + '\\n' + JSON.stringify(await r.json(), null, 2);
}};
</script>
</body></html>
""".encode()


__all__ = ["build_openapi", "docs_page"]
