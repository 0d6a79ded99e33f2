"""The commented ``nlpops.yaml`` that ``nlpops init`` writes, and docs/configuration.md, both generated from
the config model in :mod:`nlpops.checklist` so that they can never go stale.

Every key of :class:`~nlpops.checklist.NlpopsConfig` appears with its default, its allowed values or range,
and its description; sections are grouped per checklist factor with the factor's explanation.
Regenerate the docs page with ``python -m nlpops.init_template docs/configuration.md``.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo

from nlpops.checklist import NlpopsConfig
from nlpops.errors import ConfigError

# Sections whose model has no docstring get their explanation here (the factor sections carry their own).
_SECTION_NOTES: dict[str, str] = {
    "data": "Dataset columns and the train/test split used by nlpops train.",
    "registry": "Where registered models, versions and aliases are kept.",
    "serving": "The HTTP service (nlpops serve): address, micro-batching, limits and API keys.",
}


@dataclass(frozen=True)
class Question:
    """One checklist question asked by ``nlpops init --interactive``."""

    path: str
    text: str
    why: str


QUESTIONS: tuple[Question, ...] = (
    Question("name", "Registry name of the model?", "every version, alias and service is filed under it"),
    Question("model.family", "Model family?", "decides size, memory, latency and which runtimes apply"),
    Question(
        "model.size_mb",
        "Expected model size on disk in MB, if it is not trained yet (empty: measure the trained model)?",
        "plans memory, image size and function limits before training",
    ),
    Question(
        "model.reference",
        "A bundle or registry ref to measure in its place until it is trained (empty: none)?",
        "gives an estimated plan measured latency and throughput",
    ),
    Question("model.gpu", "Is a GPU available where the model is served?", "only large models need one"),
    Question("languages.languages", "Languages served (comma-separated ISO codes)?", "one or several models"),
    Question("languages.strategy", "Language strategy?", "per-language models or one multilingual model"),
    Question(
        "languages.examples_per_language",
        "Labelled examples per language (e.g. en=5000, de=800; empty: read from the trained bundle)?",
        "decides whether each language can have a model of its own",
    ),
    Question(
        "languages.traffic_shares",
        "Share of the traffic per language (e.g. en=0.7, de=0.3; empty: equal shares)?",
        "sizes each language's service",
    ),
    Question("dependencies.image_size_budget_mb", "Largest acceptable image (MB)?", "rules out heavy runtimes"),
    Question("dependencies.serve_runtime", "Serving runtime?", "onnx keeps PyTorch and scikit-learn out of the image"),
    Question("dependencies.quantize", "Quantize to int8 (none: no preference)?", "smaller and often faster"),
    Question("retraining.schedule", "Retraining schedule (cron, empty for manual)?", "plans the retrain jobs"),
    Question("retraining.location", "Where does retraining run?", "a scheduler there; separate: via the registry"),
    Question("traffic.mode", "Traffic mode?", "online service, batch jobs, or both"),
    Question("traffic.peak_rps", "Peak requests per second?", "sizes the replica count"),
    Question("traffic.average_rps", "Average requests per second?", "peak / average is the burst to absorb"),
    Question("traffic.texts_per_request", "Texts per request on average?", "capacity counts texts"),
    Question("traffic.availability", "Availability target (e.g. 0.999)?", "adds spare replicas"),
    Question("traffic.batch_rows_per_run", "Rows per batch run (0 if none)?", "sizes batch jobs"),
    Question("traffic.batch_window_hours", "Hours a batch run may take?", "sizes the batch workers"),
    Question("latency.p95_ms", "p95 latency objective (ms)?", "checked against the measured latency"),
    Question("lifecycle.stage", "Proof of concept or long-lived?", "how much operational machinery pays off"),
    Question("monitoring.alerting", "Do you want alerts?", "alert rules need Prometheus"),
    Question("monitoring.dashboards", "Do you want dashboards?", "dashboards need Grafana"),
    Question("monitoring.data_may_leave", "May texts leave the company?", "rules out managed cloud endpoints"),
    Question("infrastructure.kubernetes", "Is Kubernetes available?", "deployment artifacts fit what you run"),
    Question("infrastructure.docker", "Can you build and run containers?", "a container is the simplest service"),
    Question(
        "infrastructure.vms", "Do you have plain VMs or servers?", "a service runs on them without an orchestrator"
    ),
    Question("infrastructure.serverless", "Is a serverless platform available?", "small models fit functions"),
    Question("infrastructure.ray", "Is a Ray cluster available?", "scale beyond one machine"),
    Question("infrastructure.cloud", "Cloud account?", "managed endpoints and cloud functions need one"),
    Question("infrastructure.prometheus", "Is Prometheus already running?", "metrics and alerts plug into it"),
    Question("infrastructure.grafana", "Is Grafana already running?", "the dashboard is imported into it"),
    Question(
        "infrastructure.caller_language",
        "Language of the application that calls the model?",
        "embedding the model as a library needs Python",
    ),
)


_QUESTION_OF: dict[str, Question] = {q.path: q for q in QUESTIONS}


def question_for(path: str) -> Question | None:
    """The checklist question a config key answers (None for settings that are not checklist answers)."""
    return _QUESTION_OF.get(path)


def _allowed(annotation: Any) -> list[Any] | None:
    """The allowed values of a Literal annotation (also inside ``X | None``), else None."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return list(typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        values: list[Any] = []
        for arg in typing.get_args(annotation):
            inner = _allowed(arg)
            if inner is None and arg is not type(None):
                return None
            values.extend(inner or [None])
        return values
    return None


def _type_name(annotation: Any) -> str:
    generic = typing.get_origin(annotation) is not None
    text = str(annotation) if generic else getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "").replace("pydantic.types.", "").replace("pathlib.", "")


def _range(info: FieldInfo) -> str:
    bounds = []
    for meta in info.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                bounds.append(f"{sign} {value}")
    return ", ".join(bounds)


def _default(info: FieldInfo) -> Any:
    value = info.get_default(call_default_factory=True)
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return {k: _plain(v) for k, v in value.model_dump().items()}
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _section_model(info: FieldInfo) -> type[BaseModel] | None:
    annotation = info.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _doc(model: type[BaseModel], name: str) -> str:
    doc = (model.__doc__ or "").strip()
    if doc and not doc.startswith("!!!") and model.__doc__ != BaseModel.__doc__:
        return " ".join(doc.split())
    return _SECTION_NOTES.get(name, "")


def field_note(info: FieldInfo) -> str:
    """One line about a leaf field: its description, allowed values or range, and type."""
    parts = []
    if info.description:
        parts.append(info.description)
    allowed = _allowed(info.annotation)
    if allowed is not None:
        parts.append("allowed: " + " | ".join("null" if v is None else str(v) for v in allowed))
    else:
        bounds = _range(info)
        parts.append(_type_name(info.annotation) + (f", {bounds}" if bounds else ""))
    return "; ".join(parts)


def iter_fields(model: type[BaseModel] = NlpopsConfig, prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """Every leaf field of the config model, recursively, as ``(dotted_path, FieldInfo)``."""
    for name, info in model.model_fields.items():
        sub = _section_model(info)
        path = f"{prefix}{name}"
        if sub is not None:
            yield from iter_fields(sub, path + ".")
        else:
            yield path, info


def field_info(path: str) -> FieldInfo:
    """The FieldInfo of one leaf field by dotted path.

    Raises:
        ConfigError: no such field.
    """
    fields = dict(iter_fields())
    if path not in fields:
        raise ConfigError(f'"{path}" is not a config key. See docs/configuration.md for every key.')
    return fields[path]


def default_value(path: str) -> Any:
    """The default of one leaf field, as plain YAML-able data."""
    return _default(field_info(path))


def _mapping_answer(path: str, text: str) -> dict[str, Any]:
    """``"en=5000, de=800"`` (or ``en: 5000``) as a mapping; the values are checked by the config model."""
    out: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.replace(":", "=", 1).partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(
                f'{path}: write KEY=VALUE pairs separated by commas, e.g. "en=0.7, de=0.3". Got "{text}".'
            )
        out[key.strip()] = yaml.safe_load(value.strip())
    return out


def parse_answer(path: str, text: str, earlier: dict[str, Any] | None = None) -> Any:
    """Turn a typed answer into the value for ``path``; an empty answer gives the default.

    Args:
        path: dotted config key.
        text: what the user typed.
        earlier: answers given before, by dotted key: checks that relate answers (traffic shares per served
            language, average below peak) see them.

    Returns:
        The value, validated against the config model.

    Raises:
        ConfigError: the answer is not valid for that key (the message names the allowed values).
    """
    info = field_info(path)
    text = text.strip()
    if not text:
        return _default(info)
    annotation = info.annotation
    allowed = _allowed(annotation)
    value: Any
    if text.lower() in ("null", "none", "-") and (allowed is None or None in allowed or "none" not in allowed):
        value = None
    elif allowed is not None:
        value = text
    elif annotation is bool:
        lowered = text.lower()
        if lowered not in ("y", "yes", "true", "n", "no", "false"):
            raise ConfigError(f'{path}: answer yes or no. Got "{text}".')
        value = lowered in ("y", "yes", "true")
    elif typing.get_origin(annotation) is list:
        value = [part.strip() for part in text.split(",") if part.strip()]
    elif typing.get_origin(annotation) is dict:
        value = _mapping_answer(path, text)
    else:
        value = yaml.safe_load(text) if annotation in (int, float) else text
    nested: dict[str, Any] = {}
    for key, answer in [*(earlier or {}).items(), (path, value)]:
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = answer
    try:
        config = NlpopsConfig.model_validate(nested)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise ConfigError(f'{path}: {problem}. Got "{text}" ({field_note(info)}).') from exc
    validated: Any = config
    for part in path.split("."):
        validated = getattr(validated, part)
    return _plain(validated)


def _yaml_value(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _render_model(model: type[BaseModel], indent: int, values: dict[str, Any], prefix: str = "") -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    for name, info in model.model_fields.items():
        sub = _section_model(info)
        if sub is not None:
            note = _doc(sub, name)
            if indent == 0:
                lines.append("")
                lines.append(f"# {'─' * 3} {name} {'─' * (70 - len(name))}")
            if note:
                lines.append(f"{pad}# {note}")
            lines.append(f"{pad}{name}:")
            lines.extend(_render_model(sub, indent + 1, values, f"{prefix}{name}."))
            continue
        path = f"{prefix}{name}"
        question = _QUESTION_OF.get(path)
        if question is not None:
            lines.append(f"{pad}# Q: {question.text} ({question.why})")
        lines.append(f"{pad}# {field_note(info)}")
        value = values[path] if path in values else _default(info)
        lines.append(f"{pad}{name}: {_yaml_value(value)}")
    return lines


def render_template(values: dict[str, Any] | None = None) -> str:
    """The commented nlpops.yaml with every key at its default value.

    Args:
        values: answers by dotted path (``{"traffic.peak_rps": 50}``) written instead of the defaults.

    Returns:
        The YAML text, one comment line above every key.
    """
    head = [
        "# nlpops.yaml: the deployment checklist (nine factors) and the settings of each nlpops part.",
        "# Every key is shown at its default; delete what you do not change. Environment variables",
        "# NLPOPS_<SECTION>__<KEY> override this file, and command-line flags override both.",
        "# Generated by `nlpops init` from the config model, so it lists every key nlpops reads.",
    ]
    return "\n".join(head + _render_model(NlpopsConfig, 0, dict(values or {}))) + "\n"


def _meaning(path: str, info: FieldInfo) -> str:
    question = _QUESTION_OF.get(path)
    note = field_note(info)
    return f"**{question.text}** ({question.why}) {note}" if question is not None else note


def render_config_docs() -> str:
    """docs/configuration.md: one table per section, generated from the same model as the template."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m nlpops.init_template docs/configuration.md`; do not edit by hand. -->",
        "",
        "nlpops reads `nlpops.yaml` (or the file given by `--config` / `NLPOPS_CONFIG`). Precedence, lowest",
        "first: defaults < file < `NLPOPS_<SECTION>__<KEY>` environment variables < command-line flags.",
        "`nlpops init` writes a commented file with every key below; `nlpops init --interactive` asks the",
        "checklist questions one by one.",
        "",
        "| key | default | meaning |",
        "|---|---|---|",
    ]
    sections: dict[str, list[str]] = {}
    for path, info in iter_fields():
        section = path.split(".")[0] if "." in path else ""
        sections.setdefault(section, []).append(
            f"| `{path}` | `{_yaml_value(_default(info))}` | {_meaning(path, info).replace('|', '/')} |"
        )
    lines.extend(sections.pop(""))
    for section, rows in sections.items():
        info = NlpopsConfig.model_fields[section]
        model = _section_model(info)
        note = _doc(model, section) if model is not None else ""
        lines += ["", f"## `{section}`", "", note, "", "| key | default | meaning |", "|---|---|---|", *rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write docs/configuration.md (or the path given) from the config model."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "docs/configuration.md")
    out.write_text(render_config_docs(), encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = [
    "QUESTIONS",
    "Question",
    "default_value",
    "field_info",
    "field_note",
    "iter_fields",
    "parse_answer",
    "question_for",
    "render_config_docs",
    "render_template",
]
