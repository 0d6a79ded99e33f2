"""The Docker target: a multi-stage Dockerfile that installs only what the bundle's runtime needs.

The builder stage creates a virtual environment with nlpops (``--no-deps``, from the wheel of this nlpops
that ``nlpops deploy`` writes into the build context: :mod:`nlpops.deploy.wheel`), the service's own packages
and the runtime's packages, pinned by the context's ``constraints.txt`` to the versions installed where the
deployment was rendered; the runtime stage copies that environment, runs as a non-root user and checks
``/healthz``. nlpops' base install pulls scikit-learn, which an ONNX image must not carry, hence ``--no-deps``
and an explicit list.
"""

from __future__ import annotations

import json
import re
import shlex

from nlpops._version import __version__
from nlpops.deploy.context import SERVICE_REQUIREMENTS, DeployContext
from nlpops.deploy.wheel import CONSTRAINTS_FILE, WHEELS_DIR, nlpops_version, pinned_constraints

BASE_IMAGE = "python:3.11-slim"
USER_ID = 10001
DOCKERIGNORE = f"""# Rendered by nlpops deploy: keep the build context small and free of secrets.
**
!bundle/
!bundle/**
!{WHEELS_DIR}/
!{WHEELS_DIR}/**
!{CONSTRAINTS_FILE}
"""
BUILD_DIR = "/tmp/nlpops-build"  # where the builder stage copies the wheel and the constraints
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+")


# Installed without their dependencies: tokenizers depends on huggingface-hub (with hf-xet and fsspec, about
# 25 MB) for downloading from the Hub, which a service never does (Tokenizer.from_file needs none of it).
NO_DEPS = frozenset({"tokenizers"})
# The MLflow client, for services that read their model from an MLflow registry (the "mlflow" extra).
MLFLOW_REQUIREMENT = "mlflow-skinny>=2.18,<4"


def requirement_name(requirement: str) -> str:
    """The distribution name of a requirement string, lower case (``"scikit-learn>=1.6"`` -> ``scikit-learn``)."""
    match = _NAME.match(requirement.strip())
    return match.group(0).lower().replace("_", "-") if match else requirement.strip().lower()


def install_packages(ctx: DeployContext) -> list[str]:
    """The packages the image installs besides nlpops itself: the service's and the runtime's, deduplicated
    by name (the runtime's pin wins)."""
    runtime = {requirement_name(r): r for r in ctx.requirements}
    service = [r for r in SERVICE_REQUIREMENTS if requirement_name(r) not in runtime]
    registry = [MLFLOW_REQUIREMENT] if ctx.mlflow else []
    return service + list(runtime.values()) + registry


def skip_deps_of(ctx: DeployContext) -> frozenset[str]:
    """The packages the image installs with ``--no-deps`` (only for the ONNX runtime: transformers, which the
    torch runtime brings, does need the Hub client)."""
    return NO_DEPS if ctx.runtime == "onnx" else frozenset()


def render_constraints(ctx: DeployContext) -> str:
    """``constraints.txt``: every package the image installs, and what they pull in, pinned to the version
    installed here (:func:`nlpops.deploy.wheel.pinned_constraints`)."""
    pins, unpinned = pinned_constraints(install_packages(ctx), without_deps=skip_deps_of(ctx))
    lines = [
        f"# Rendered by nlpops {__version__} (nlpops deploy): the versions installed where the deployment was",
        "# rendered, for pip install --constraint in the Dockerfile. Edit a pin to change what the image gets.",
    ]
    if unpinned:
        lines.append(f"# Not installed there, so not pinned (resolved from the index): {', '.join(unpinned)}")
    return "\n".join([*lines, *pins]) + "\n"


def _model_comment(ctx: DeployContext) -> str:
    """Header lines saying where the served model comes from."""
    if ctx.bundle_dir is not None:
        return "# The model: the bundle baked in at /app/bundle (copied from bundle/ in this folder).\n"
    if ctx.mlflow:
        return f"# The model: {ctx.ref} from the MLflow registry (NLPOPS_REGISTRY__MLFLOW_URI).\n"
    return (
        f"# The model: {ctx.ref} from the registry folder mounted at /var/lib/nlpops, e.g.\n"
        '#   docker run -v "$PWD/.nlpops:/var/lib/nlpops" --user "$(id -u):$(id -g)" -p 8000:8000 IMAGE\n'
        "# (the service reads and follows the alias there). Or bake a bundle in: nlpops deploy --bundle DIR.\n"
    )


def _quoted(items: list[str]) -> str:
    """Shell words for a RUN line: single-quoted, so nothing in them expands (requirements come from bundles)."""
    return " \\\n        ".join(shlex.quote(item) for item in items)


def render_dockerfile(ctx: DeployContext) -> str:
    """The Dockerfile text for ``ctx`` (see the module docstring).

    Args:
        ctx: the deploy context.

    Returns:
        The Dockerfile.
    """
    size = ctx.expected_image_mb()
    port = ctx.container_port
    probe = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/healthz', timeout=2)"
    copy_bundle = f"COPY --chown={USER_ID}:{USER_ID} bundle/ /app/bundle/\n" if ctx.bundle_dir is not None else ""
    cmd = ["serve", ctx.ref]
    packages = install_packages(ctx)
    # Only where nothing else needs their dependencies: the ONNX runtime (transformers does need the Hub client).
    skip_deps = skip_deps_of(ctx)
    with_deps = [p for p in packages if requirement_name(p) not in skip_deps]
    no_deps = [p for p in packages if requirement_name(p) in skip_deps]
    constraint = f"--constraint {BUILD_DIR}/{CONSTRAINTS_FILE}"
    no_deps_step = f" \\\n    && pip install --no-deps {constraint} \\\n        {_quoted(no_deps)}" if no_deps else ""
    nlpops = shlex.quote(f"nlpops=={nlpops_version()}")
    registry_env = "".join(f" \\\n    {key}={json.dumps(value)}" for key, value in ctx.registry_env().items())
    return f"""# syntax=docker/dockerfile:1
# Rendered by nlpops {__version__} (nlpops deploy) for model {json.dumps(ctx.name)}, runtime {ctx.runtime}.
# Expected image size: about {size["total_mb"]:.0f} MB (base {size["base_mb"]:.0f}
# + service {size["service_mb"]:.0f} + runtime {size["runtime_mb"]:.0f} + bundle {size["bundle_mb"]:.0f}),
# from the runtime footprint in the plan profile.
{_model_comment(ctx)}
FROM {BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY {WHEELS_DIR}/ {BUILD_DIR}/{WHEELS_DIR}/
COPY {CONSTRAINTS_FILE} {BUILD_DIR}/{CONSTRAINTS_FILE}
RUN pip install --no-deps --no-index --find-links {BUILD_DIR}/{WHEELS_DIR} {nlpops} \\
    && pip install {constraint} \\
        {_quoted(with_deps)}{no_deps_step}

FROM {BASE_IMAGE} AS runtime
RUN groupadd --system --gid {USER_ID} nlpops \\
    && useradd --system --uid {USER_ID} --gid {USER_ID} --home-dir /app --shell /usr/sbin/nologin nlpops \\
    && mkdir -p /app /var/lib/nlpops \\
    && chown {USER_ID}:{USER_ID} /app /var/lib/nlpops
COPY --from=builder /opt/venv /opt/venv
{copy_bundle}ENV PATH=/opt/venv/bin:$PATH \\
    PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    NLPOPS_HOME=/var/lib/nlpops \\
    NLPOPS_SERVING__HOST=0.0.0.0 \\
    NLPOPS_SERVING__PORT={port}{registry_env}
WORKDIR /app
USER {USER_ID}:{USER_ID}
EXPOSE {port}
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \\
    CMD {json.dumps(["python", "-c", probe])}
ENTRYPOINT ["nlpops"]
CMD {json.dumps(cmd)}
"""


def render_docker(ctx: DeployContext) -> dict[str, str]:
    """The Docker target's text files: ``Dockerfile``, ``.dockerignore`` and ``constraints.txt`` (the nlpops
    wheel the Dockerfile installs is written next to them by :func:`nlpops.deploy.render_deployment`)."""
    return {
        "Dockerfile": render_dockerfile(ctx),
        ".dockerignore": DOCKERIGNORE,
        CONSTRAINTS_FILE: render_constraints(ctx),
    }


__all__ = [
    "BASE_IMAGE",
    "BUILD_DIR",
    "MLFLOW_REQUIREMENT",
    "USER_ID",
    "install_packages",
    "render_constraints",
    "render_docker",
    "render_dockerfile",
    "requirement_name",
    "skip_deps_of",
]
