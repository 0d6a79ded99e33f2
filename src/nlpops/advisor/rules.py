"""The advisor's rules as data: ``rules.yaml`` shipped with nlpops, plus an optional file of the team's own.

A rule turns one fact into a signal in [-1, 1] and multiplies it by a weight per option (or, for facts
that differ per option such as ``option.slo_ratio``, by one weight for all). Constraints exclude options,
warnings add a line to the report. Loading validates everything and reports every problem at once.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nlpops.errors import PlanError

RULES_VERSION = 1
Scale = Literal["linear", "log", "nines", "bool", "match", "ratio"]
Op = Literal["eq", "ne", "lt", "le", "gt", "ge", "in"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Signal(_Spec):
    """How a fact becomes a number in [-1, 1]."""

    fact: str
    scale: Scale
    low: float | None = None
    high: float | None = None
    values: dict[str, float] = Field(default_factory=dict)
    default: float = 0.0
    false_signal: float = 0.0

    @model_validator(mode="after")
    def _check(self) -> Signal:
        if self.scale in ("linear", "log", "nines"):
            if self.low is None or self.high is None or not self.low < self.high:
                raise ValueError(f"scale {self.scale} needs low < high, got low={self.low}, high={self.high}")
            if self.scale == "log" and self.low <= 0:
                raise ValueError(f"scale log needs low > 0, got {self.low}")
        if self.scale == "match" and not self.values:
            raise ValueError("scale match needs values: {answer: signal, ...}")
        if self.scale == "ratio" and (self.high is None or self.high <= 1):
            raise ValueError(f"scale ratio needs high > 1 (the ratio that counts as fully met), got {self.high}")
        return self


class Condition(_Spec):
    """``fact op value`` (or ``fact op value_fact``)."""

    fact: str
    op: Op
    value: Any = None
    value_fact: str | None = None


class Rule(_Spec):
    """One piece of evidence: a signal and the weight it carries for each option, counted only ``when`` every
    condition holds (e.g. online facts only for online traffic)."""

    id: str
    factor: str
    dimension: str
    text: str
    signal: Signal
    weights: dict[str, float] = Field(default_factory=dict)
    weight: float | None = None
    when: list[Condition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Rule:
        per_option = self.signal.fact.startswith("option.")
        if per_option and (self.weight is None or self.weights):
            raise ValueError(
                f"rule {self.id}: a per-option fact ({self.signal.fact}) takes one 'weight', not 'weights'"
            )
        if not per_option and (self.weight is not None or not self.weights):
            raise ValueError(f"rule {self.id}: give 'weights: {{option: number}}' (only option.* facts take 'weight')")
        return self


class Constraint(_Spec):
    """Excludes ``options`` of ``dimension`` when every condition holds."""

    id: str
    factor: str
    dimension: str
    options: list[str]
    when: list[Condition]
    reason: str


class AdvisorWarning(_Spec):
    """A line in the report's warnings when every condition holds."""

    id: str
    factor: str
    when: list[Condition]
    text: str


class OptionSpec(_Spec):
    title: str
    description: str = ""
    prior: float = 0.0
    latency_overhead_ms: float = 0.0


class DimensionSpec(_Spec):
    title: str
    question: str = ""
    options: dict[str, OptionSpec]


class FactorSpec(_Spec):
    title: str
    explanation: str


class Spare(_Spec):
    at_least: float = Field(gt=0, lt=1)
    extra: int = Field(ge=0)


class AdvisorRulesSettings(_Spec):
    utilisation_target: float = Field(0.6, gt=0, le=1)
    slo_share_for_batching: float = Field(0.5, gt=0, le=1)
    memory_headroom: float = Field(1.5, ge=1)
    serverless_package_limit_mb: float = Field(250, gt=0)
    serverless_memory_limit_mb: float = Field(10240, gt=0)
    base_image_mb: float = Field(125, ge=0)
    neutral_below: float = Field(0.05, ge=0)
    availability_spares: list[Spare] = Field(default_factory=list)


class RuleBook(_Spec):
    """Everything the advisor knows: dimensions and options, factors, rules, constraints, warnings."""

    version: int = RULES_VERSION
    settings: AdvisorRulesSettings = AdvisorRulesSettings()
    factors: dict[str, FactorSpec]
    dimensions: dict[str, DimensionSpec]
    rules: list[Rule] = Field(default_factory=list)
    constraints: list[Constraint] = Field(default_factory=list)
    warnings: list[AdvisorWarning] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_check(self) -> RuleBook:
        problems: list[str] = []
        for kind, items in (("rules", self.rules), ("constraints", self.constraints), ("warnings", self.warnings)):
            ids = [item.id for item in items]
            problems += [f"{kind}: id {i!r} is used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
            for item in items:
                if item.factor not in self.factors:
                    problems.append(f"{kind}.{item.id}.factor: unknown factor {item.factor!r} (add it under factors:)")
        choices: list[Rule | Constraint] = [*self.rules, *self.constraints]
        for choice in choices:
            dimension = self.dimensions.get(choice.dimension)
            if dimension is None:
                problems.append(
                    f"{choice.id}.dimension: unknown dimension {choice.dimension!r} ({', '.join(self.dimensions)})"
                )
                continue
            named = choice.weights if isinstance(choice, Rule) else choice.options
            unknown = [o for o in named if o not in dimension.options]
            if unknown:
                problems.append(
                    f"{choice.id}: unknown option(s) {unknown} for {choice.dimension} ({', '.join(dimension.options)})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _read_yaml(path: Path | str, text: str | None = None) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text if text is not None else Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PlanError(f'Rules file "{path}" does not exist. Fix advisor.rules_file in nlpops.yaml.') from exc
    except (OSError, yaml.YAMLError) as exc:
        raise PlanError(f'Rules file "{path}" cannot be read as YAML: {exc}. Fix the file.') from exc
    if not isinstance(data, dict):
        raise PlanError(
            f'Rules file "{path}" must be a mapping with factors/rules/constraints, got {type(data).__name__}.'
        )
    return data


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Add a user's file to the shipped rules: maps merge, list items replace by id or are appended."""
    out = dict(base)
    for key, value in extra.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            out[key] = _merge(old, value)
        elif isinstance(value, list) and isinstance(old, list) and key in ("rules", "constraints", "warnings"):
            by_id = {item.get("id"): item for item in old if isinstance(item, dict)}
            for item in value:
                by_id[item.get("id") if isinstance(item, dict) else id(item)] = item
            out[key] = list(by_id.values())
        else:
            out[key] = value
    return out


def _validate(data: dict[str, Any], source: str) -> RuleBook:
    if data.get("version", RULES_VERSION) != RULES_VERSION:
        raise PlanError(f"{source} has rules version {data.get('version')!r}; this nlpops reads {RULES_VERSION}.")
    try:
        return RuleBook.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            problems.append(f"{where}: {err['msg']}" if where else err["msg"])
        raise PlanError(f"Invalid advisor rules ({source}): " + "; ".join(problems)) from exc


def load_rules(user_file: Path | str | None = None) -> RuleBook:
    """The shipped rules, extended by ``user_file`` (advisor.rules_file) when given.

    Raises:
        PlanError: a file is missing or invalid; the message lists every problem with its path.
    """
    shipped = resources.files("nlpops.advisor").joinpath("rules.yaml").read_text(encoding="utf-8")
    data = _read_yaml("rules.yaml", shipped)
    source = "shipped rules.yaml"
    if user_file is not None:
        data = _merge(data, _read_yaml(user_file))
        source = f'rules.yaml + "{user_file}"'
    return _validate(data, source)


__all__ = [
    "AdvisorWarning",
    "Condition",
    "Constraint",
    "DimensionSpec",
    "FactorSpec",
    "OptionSpec",
    "Rule",
    "RuleBook",
    "Signal",
    "load_rules",
]
