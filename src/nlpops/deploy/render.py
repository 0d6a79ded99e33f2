"""``nlpops deploy``: render what the plan chose for one target, validate every file, then write them.

Files are rendered into a staging folder next to ``out``, validated there (promtool needs files on disk), and
only then moved into ``out``; nothing is written to ``out`` when any file is invalid.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpops.deploy.compose import RULES_PATH, compose_document, dump_yaml, render_compose
from nlpops.deploy.context import DeployContext
from nlpops.deploy.docker import render_docker
from nlpops.deploy.kubernetes import DEFAULT_BATCH_SCHEDULE, object_file_name, render_kubernetes_objects
from nlpops.deploy.ray_config import render_ray
from nlpops.deploy.validate import (
    validate_compose,
    validate_constraints,
    validate_dockerfile,
    validate_kubernetes,
    validate_prometheus,
    validate_ray_config,
)
from nlpops.deploy.wheel import CONSTRAINTS_FILE, WHEELS_DIR, check_wheel, write_wheel
from nlpops.errors import PlanError

TARGETS = ("docker", "compose", "kubernetes", "ray")


@dataclass(frozen=True)
class DeployResult:
    """What ``nlpops deploy`` wrote.

    Args:
        target: the target rendered.
        out: the output folder.
        files: the written files, relative to ``out``.
        checks: how each file was validated (file -> check).
        expected_image_mb: the expected size of the image every target runs, and its parts.
        notes: things the user must do or know (placeholders to fill, volumes to provide).
    """

    target: str
    out: Path
    files: list[str]
    checks: dict[str, str]
    expected_image_mb: dict[str, float]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-able data."""
        return {
            "target": self.target,
            "out": str(self.out),
            "files": self.files,
            "checks": self.checks,
            "expected_image_mb": self.expected_image_mb,
            "notes": self.notes,
        }


def render_files(
    ctx: DeployContext,
    target: str,
    *,
    batch_schedule: str = DEFAULT_BATCH_SCHEDULE,
    api_keys: list[str] | None = None,
) -> tuple[dict[str, str], dict[str, Any]]:
    """Render ``target``'s files as text, plus the documents they were dumped from (for validation).

    Raises:
        PlanError: an unknown target.
    """
    if target not in TARGETS:
        raise PlanError(f'Unknown deploy target "{target}". Choose one of: {", ".join(TARGETS)}.')
    documents: dict[str, Any] = {}
    if target == "docker":
        files = render_docker(ctx)
    elif target == "compose":
        files = render_compose(ctx)
        documents["compose.yaml"] = compose_document(ctx)
    elif target == "kubernetes":
        files = render_docker(ctx)
        for obj in render_kubernetes_objects(ctx, batch_schedule=batch_schedule, api_keys=api_keys):
            name = object_file_name(obj)
            files[name] = dump_yaml(obj)
            documents[name] = obj
    else:
        files = render_docker(ctx)
        for name, doc in render_ray(ctx).items():
            files[name] = dump_yaml(doc)
            documents[name] = doc
    return files, documents


def _validate(staging: Path, files: dict[str, str], documents: dict[str, Any]) -> dict[str, str]:
    checks: dict[str, str] = {}
    for name, text in files.items():
        if name == "Dockerfile":
            validate_dockerfile(text)
            checks[name] = "dockerfile-parse"
        elif name == "compose.yaml":
            validate_compose(documents[name])
            checks[name] = "compose-spec schema"
        elif name.startswith("kubernetes/"):
            validate_kubernetes(documents[name], name)
            checks[name] = "kubernetes-validate"
        elif name == CONSTRAINTS_FILE:
            validate_constraints(text, name)
            checks[name] = "exact pins"
        elif name == "ray-serve.yaml":
            checks[name] = "ray schema" if validate_ray_config(documents[name]) == "ray" else "structure"
    if RULES_PATH in files:
        how = validate_prometheus(staging, "prometheus/prometheus.yml", RULES_PATH)
        checks[RULES_PATH] = checks["prometheus/prometheus.yml"] = how
    return checks


def _copy_bundle(bundle_dir: Path, dest: Path) -> None:
    try:
        shutil.copytree(bundle_dir, dest)
    except OSError as exc:
        raise PlanError(f'Cannot copy bundle "{bundle_dir}" into the build context: {exc}.') from exc


def render_deployment(
    ctx: DeployContext,
    target: str,
    out: Path | str,
    *,
    batch_schedule: str = DEFAULT_BATCH_SCHEDULE,
    api_keys: list[str] | None = None,
) -> DeployResult:
    """Render ``target`` for the plan in ``ctx``, validate every file, and write them into ``out``.

    Args:
        ctx: the deploy context (``build_context(load_plan(path), ...)``).
        target: ``docker``, ``compose``, ``kubernetes`` or ``ray``.
        out: the output folder (created; files of the same name are replaced).
        batch_schedule: cron schedule of the Kubernetes batch CronJob.
        api_keys: API keys for the Kubernetes Secret (None: a placeholder).

    Returns:
        The files written and how each was validated.

    Raises:
        PlanError: an unknown target, a rendered file that fails validation, or ``out`` not writable.
    """
    files, documents = render_files(ctx, target, batch_schedule=batch_schedule, api_keys=api_keys)
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".nlpops-deploy-", dir=folder))
    except OSError as exc:
        raise PlanError(f'Cannot write to "{folder}": {exc.strerror}. Choose a writable --out folder.') from exc
    try:
        for name, text in files.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        checks = _validate(staging, files, documents)
        for name in files:
            dest = folder / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            (staging / name).replace(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    written = sorted(files)
    shutil.rmtree(folder / WHEELS_DIR, ignore_errors=True)  # a wheel of another version would linger
    wheel = write_wheel(folder / WHEELS_DIR)
    check_wheel(wheel)
    written.append(f"{WHEELS_DIR}/{wheel.name}")
    checks[f"{WHEELS_DIR}/{wheel.name}"] = "wheel RECORD"
    if ctx.bundle_dir is not None:
        shutil.rmtree(folder / "bundle", ignore_errors=True)
        _copy_bundle(ctx.bundle_dir, folder / "bundle")
        written.append("bundle/")
    notes = list(ctx.notes)
    if target == "kubernetes" and not api_keys:
        notes.append(
            f"Set the API keys in kubernetes/secret-{ctx.slug}-api-keys.yaml (a JSON list) before applying; the "
            "placeholder is refused by the service."
        )
    if target == "compose":
        notes.append("Set GRAFANA_ADMIN_PASSWORD (and NLPOPS_API_KEYS, a JSON list) in the environment or .env.")
    notes.append(
        f"The image installs nlpops from {WHEELS_DIR}/{wheel.name} (this nlpops, packed by deploy) and the other "
        "packages pinned in constraints.txt to the versions installed here."
    )
    return DeployResult(target, folder, written, checks, ctx.expected_image_mb(), notes)


__all__ = ["TARGETS", "DeployResult", "render_deployment", "render_files"]
