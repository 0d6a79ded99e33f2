"""Checks every rendered file before it is written: a file that would not load where it is going is a bug.

- Kubernetes objects: ``kubernetes-validate`` against :data:`KUBERNETES_VERSION` (strict: unknown fields fail);
  custom resources (ServiceMonitor, PodMonitor) get a structural check, their schemas being the operator's. A
  KServe InferenceService's predictor is a pod spec plus KServe's own fields: the pod spec is validated strictly
  as a core Pod, the KServe fields against the v1beta1 names and values nlpops writes.
- Compose: the vendored compose-spec JSON schema (``schemas/compose-spec.json``, Apache-2.0).
- Prometheus config and rules: ``promtool check`` when promtool is on PATH, else a structural check.
- Dockerfile: parsed with ``dockerfile-parse``; instructions must be known, stages named, the last stage
  must run as a non-root user and have a HEALTHCHECK.
- Ray Serve config: Ray's own ``ServeDeploySchema`` when Ray is installed, else a structural check.
- ``constraints.txt``: every line a comment or an exact pin (``name==version``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from importlib import resources
from pathlib import Path
from typing import IO, Any, cast

from nlpops.errors import MissingExtraError, PlanError

KUBERNETES_VERSION = "1.33.0"
DOCKER_INSTRUCTIONS = frozenset(
    {
        "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
        "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
    }
)  # fmt: skip
_CUSTOM_GROUPS = ("monitoring.coreos.com/", "serving.kserve.io/")


def validate_kubernetes(obj: dict[str, Any], where: str) -> None:
    """Validate one Kubernetes object.

    Raises:
        PlanError: the object is invalid for :data:`KUBERNETES_VERSION` (the message has the field path).
        MissingExtraError: kubernetes-validate is not installed.
    """
    if str(obj.get("apiVersion", "")).startswith(_CUSTOM_GROUPS):
        _check_structure(obj, where, ("apiVersion", "kind", "metadata", "spec"))
        if obj.get("kind") == "InferenceService":
            _validate_inference_service(obj, where)
        return
    try:
        import kubernetes_validate
    except ImportError as exc:
        raise MissingExtraError.for_extra("Validating Kubernetes manifests", "deploy", "kubernetes-validate") from exc
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        raise PlanError(f"Rendered {where} is invalid for Kubernetes {KUBERNETES_VERSION} at {path}: {exc.message}. "
                        "This is a bug in nlpops deploy; please report it.") from exc  # fmt: skip
    except kubernetes_validate.utils.SchemaNotFoundError as exc:
        raise PlanError(f"Rendered {where}: no Kubernetes {KUBERNETES_VERSION} schema for {obj.get('kind')}.") from exc


# KServe v1beta1 ComponentExtensionSpec fields a predictor may carry besides its pod spec.
_KSERVE_COMPONENT_FIELDS = frozenset(
    {
        "minReplicas", "maxReplicas", "scaleMetric", "scaleTarget", "containerConcurrency", "timeout",
        "canaryTrafficPercent", "labels", "annotations", "logger", "batcher", "deploymentStrategy", "autoScaling",
    }
)  # fmt: skip
_KSERVE_MODES = ("RawDeployment", "Standard", "Serverless", "Knative")
_KSERVE_METRICS = ("cpu", "memory", "concurrency", "rps")


def _validate_inference_service(obj: dict[str, Any], where: str) -> None:
    spec = obj["spec"]
    predictor = spec.get("predictor") if isinstance(spec, dict) else None
    if not isinstance(predictor, dict) or set(spec) - {"predictor", "transformer", "explainer"}:
        raise PlanError(f"Rendered {where}: an InferenceService spec needs a predictor (and nothing unknown).")
    problems = []
    mode = obj["metadata"].get("annotations", {}).get("serving.kserve.io/deploymentMode")
    if mode is not None and mode not in _KSERVE_MODES:
        problems.append(f"deploymentMode {mode!r} is not one of {', '.join(_KSERVE_MODES)}")
    low, high = predictor.get("minReplicas", 1), predictor.get("maxReplicas", 1)
    if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high and high >= 1):
        problems.append(f"replicas {low!r}..{high!r} are not 0 <= minReplicas <= maxReplicas, maxReplicas >= 1")
    if predictor.get("scaleMetric", "cpu") not in _KSERVE_METRICS:
        problems.append(f"scaleMetric {predictor.get('scaleMetric')!r} is not one of {', '.join(_KSERVE_METRICS)}")
    target = predictor.get("scaleTarget", 1)
    if not isinstance(target, int) or target < 1:
        problems.append(f"scaleTarget {target!r} is not a positive integer")
    containers = predictor.get("containers") or []
    if len(containers) != 1 or containers[0].get("name") != "kserve-container":
        problems.append("a custom predictor needs exactly one container, named kserve-container")
    protocols = [e.get("value") for c in containers[:1] for e in c.get("env") or [] if e.get("name") == "PROTOCOL"]
    if any(p not in ("v1", "v2") for p in protocols):
        problems.append(f"the container's PROTOCOL {protocols[0]!r} is not v1 or v2 (KServe refuses it)")
    if problems:
        raise PlanError(f"Rendered {where} is not a valid InferenceService: {'; '.join(problems)}. This is a bug.")
    pod_spec = {k: v for k, v in predictor.items() if k not in _KSERVE_COMPONENT_FIELDS}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": obj["metadata"]["name"]}, "spec": pod_spec}
    validate_kubernetes(pod, f"{where} (spec.predictor as a Pod)")


def _check_structure(obj: dict[str, Any], where: str, keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in obj]
    if missing:
        raise PlanError(f"Rendered {where} lacks {', '.join(missing)}. This is a bug in nlpops deploy.")


def compose_schema() -> dict[str, Any]:
    """The vendored compose-spec JSON schema."""
    text = resources.files("nlpops.deploy").joinpath("schemas/compose-spec.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_compose(document: dict[str, Any], where: str = "compose.yaml") -> None:
    """Validate a Compose document against the compose-spec schema.

    Raises:
        PlanError: the first schema violation, with its path.
    """
    import jsonschema

    validator = jsonschema.Draft201909Validator(compose_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        path = ".".join(str(p) for p in first.absolute_path) or "(root)"
        raise PlanError(f"Rendered {where} breaks the Compose schema at {path}: {first.message}. This is a bug.")


def promtool_path() -> str | None:
    """promtool on PATH, or None."""
    return shutil.which("promtool")


def validate_prometheus(folder: Path, config_file: str, rules_file: str) -> str:
    """Check a Prometheus config (which loads the rules file) and the rules with promtool.

    Args:
        folder: the staging folder holding both files.
        config_file: the config's path relative to ``folder``.
        rules_file: the rules' path relative to ``folder``.

    Returns:
        ``"promtool"`` or ``"structure"`` (how it was checked).

    Raises:
        PlanError: promtool rejects a file.
    """
    import yaml

    rules = yaml.safe_load((folder / rules_file).read_text(encoding="utf-8"))
    if not isinstance(rules, dict) or not isinstance(rules.get("groups"), list):
        raise PlanError(f"Rendered {rules_file} has no rule groups. This is a bug in nlpops deploy.")
    tool = promtool_path()
    if tool is None:
        return "structure"
    for what, file in (("rules", rules_file), ("config", config_file)):
        try:
            subprocess.run(
                [tool, "check", what, file], cwd=folder, check=True, capture_output=True, text=True, timeout=60
            )
        except subprocess.CalledProcessError as exc:
            raise PlanError(f"promtool rejects {file}: {(exc.stdout + exc.stderr).strip()}") from exc
    return "promtool"


def validate_dockerfile(text: str, where: str = "Dockerfile") -> None:
    """Parse a Dockerfile and check what deploy promises about it.

    Raises:
        PlanError: an unknown instruction, no FROM, a last stage without a non-root USER or a HEALTHCHECK.
        MissingExtraError: dockerfile-parse is not installed.
    """
    try:
        from dockerfile_parse import DockerfileParser
    except ImportError as exc:
        raise MissingExtraError.for_extra("Validating Dockerfiles", "deploy", "dockerfile-parse") from exc
    # The stubs type fileobj as IO[str]; the parser only calls readlines/read/seek and decodes bytes lines itself.
    parser = DockerfileParser(fileobj=cast("IO[str]", _TextFile(text)))
    instructions = [i for i in parser.structure if i["instruction"] != "COMMENT"]
    unknown = sorted({i["instruction"] for i in instructions} - DOCKER_INSTRUCTIONS)
    if unknown:
        raise PlanError(f"Rendered {where} has unknown instructions {unknown}. This is a bug in nlpops deploy.")
    if not instructions or instructions[0]["instruction"] not in ("FROM", "ARG"):
        raise PlanError(f"Rendered {where} does not start with FROM. This is a bug in nlpops deploy.")
    starts = [n for n, i in enumerate(instructions) if i["instruction"] == "FROM"]
    last_stage = instructions[starts[-1] :]
    users = [i["value"].strip() for i in last_stage if i["instruction"] == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        raise PlanError(f"Rendered {where}: the final stage must run as a non-root USER.")
    if not any(i["instruction"] == "HEALTHCHECK" for i in last_stage):
        raise PlanError(f"Rendered {where}: the final stage has no HEALTHCHECK.")
    for instruction in last_stage:
        if instruction["instruction"] in ("CMD", "ENTRYPOINT") and instruction["value"].startswith("["):
            try:
                json.loads(instruction["value"])
            except json.JSONDecodeError as exc:
                raise PlanError(f"Rendered {where}: {instruction['instruction']} is not a JSON array.") from exc


class _TextFile:
    """The file-like object dockerfile-parse reads (bytes lines)."""

    def __init__(self, text: str) -> None:
        self._lines = text.encode("utf-8").splitlines(keepends=True)

    def readlines(self) -> list[bytes]:
        return list(self._lines)

    def read(self) -> bytes:
        return b"".join(self._lines)

    def seek(self, offset: int) -> None:
        pass


def validate_constraints(text: str, where: str = "constraints.txt") -> None:
    """Check a pip constraints file: each line is a comment or one exact pin ``name==version``.

    Raises:
        PlanError: naming the first line that is neither.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            specifiers = list(Requirement(line).specifier)
        except InvalidRequirement as exc:
            raise PlanError(f"Rendered {where} line {number} is not a requirement: {line!r} ({exc}).") from exc
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            raise PlanError(f"Rendered {where} line {number} is not an exact pin (name==version): {line!r}.")


def validate_ray_config(document: dict[str, Any], where: str = "ray-serve.yaml") -> str:
    """Validate a Ray Serve config with Ray's own schema when Ray is installed.

    Returns:
        ``"ray"`` or ``"structure"`` (how it was checked).

    Raises:
        PlanError: the config breaks Ray's schema.
    """
    apps = document.get("applications")
    if not isinstance(apps, list) or not apps or any("import_path" not in a for a in apps):
        raise PlanError(f"Rendered {where} has no applications with an import_path. This is a bug.")
    try:
        with warnings.catch_warnings():  # Ray's own pydantic deprecations, not the user's business
            warnings.simplefilter("ignore", DeprecationWarning)
            from ray.serve.schema import ServeDeploySchema
    except ImportError:
        return "structure"
    parse = getattr(ServeDeploySchema, "model_validate", None) or ServeDeploySchema.parse_obj
    try:
        parse(document)
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        raise PlanError(f"Rendered {where} breaks Ray Serve's config schema: {exc}. This is a bug.") from exc
    return "ray"


__all__ = [
    "DOCKER_INSTRUCTIONS",
    "KUBERNETES_VERSION",
    "compose_schema",
    "promtool_path",
    "validate_compose",
    "validate_dockerfile",
    "validate_kubernetes",
    "validate_prometheus",
    "validate_ray_config",
]
