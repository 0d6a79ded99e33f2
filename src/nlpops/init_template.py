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
    Question("model.gpu", "Is a GPU available where the model is served?", "only large models need one"),
    Question("languages.languages", "Languages served (comma-separated ISO codes)?", "one or several models"),
    Question("languages.strategy", "Language strategy?", "per-language models or one multilingual model"),
    Question("dependencies.image_size_budget_mb", "Largest acceptable image (MB)?", "rules out heavy runtimes"),
    Question("retraining.schedule", "Retraining schedule (cron, empty for manual)?", "plans the retrain jobs"),
    Question("traffic.mode", "Traffic mode?", "online service, batch jobs, or both"),
    Question("traffic.peak_rps", "Peak requests per second?", "sizes the replica count"),
    Question("traffic.availability", "Availability target (e.g. 0.999)?", "adds spare replicas"),
    Question("traffic.batch_rows_per_run", "Rows per batch run (0 if none)?", "sizes batch jobs"),
    Question("latency.p95_ms", "p95 latency objective (ms)?", "checked against the measured latency"),
    Question("lifecycle.stage", "Proof of concept or long-lived?", "how much operational machinery pays off"),
    Question("monitoring.data_may_leave", "May texts leave the company?", "rules out managed cloud endpoints"),
    Question("infrastructure.kubernetes", "Is Kubernetes available?", "deployment artifacts fit what you run"),
    Question("infrastructure.serverless", "Is a serverless platform available?", "small models fit functions"),
    Question("infrastructure.prometheus", "Is Prometheus already running?", "metrics and alerts plug into it"),
)


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


def parse_answer(path: str, text: str) -> Any:
    """Turn a typed answer into the value for ``path``; an empty answer gives the default.

    Args:
        path: dotted config key.
        text: what the user typed.

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
    if text.lower() in ("null", "none", "-"):
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
    else:
        value = yaml.safe_load(text) if annotation in (int, float) else text
    nested: dict[str, Any] = {}
    node = nested
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    try:
        NlpopsConfig.model_validate(nested)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise ConfigError(f'{path}: {problem}. Got "{text}" ({field_note(info)}).') from exc
    return value


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
        lines.append(f"{pad}# {field_note(info)}")
        path = f"{prefix}{name}"
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
            f"| `{path}` | `{_yaml_value(_default(info))}` | {field_note(info).replace('|', '/')} |"
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
    "render_config_docs",
    "render_template",
]
