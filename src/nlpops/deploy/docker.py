"""The Docker target: a multi-stage Dockerfile that installs only what the bundle's runtime needs.

The builder stage creates a virtual environment with nlpops (``--no-deps``), the service's own packages and
the runtime's packages; the runtime stage copies that environment, runs as a non-root user and checks
``/healthz``. nlpops' base install pulls scikit-learn, which an ONNX image must not carry, hence ``--no-deps``
and an explicit list.
"""

from __future__ import annotations

import json
import re
import shlex

from nlpops._version import __version__
from nlpops.deploy.context import SERVICE_REQUIREMENTS, DeployContext

BASE_IMAGE = "python:3.11-slim"
USER_ID = 10001
DOCKERIGNORE = """# Rendered by nlpops deploy: keep the build context small and free of secrets.
**
!bundle/
!bundle/**
"""
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
    skip_deps = NO_DEPS if ctx.runtime == "onnx" else frozenset()
    with_deps = [p for p in packages if requirement_name(p) not in skip_deps]
    no_deps = [p for p in packages if requirement_name(p) in skip_deps]
    no_deps_step = f" \\\n    && pip install --no-deps \\\n        {_quoted(no_deps)}" if no_deps else ""
    registry_env = "".join(f" \\\n    {key}={json.dumps(value)}" for key, value in ctx.registry_env().items())
    return f"""# syntax=docker/dockerfile:1
# Rendered by nlpops {__version__} (nlpops deploy) for model {json.dumps(ctx.name)}, runtime {ctx.runtime}.
# Expected image size: about {size["total_mb"]:.0f} MB (base {size["base_mb"]:.0f}
# + service {size["service_mb"]:.0f} + runtime {size["runtime_mb"]:.0f} + bundle {size["bundle_mb"]:.0f}),
# from the runtime footprint in the plan profile.

FROM {BASE_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --no-deps {shlex.quote(f"nlpops=={__version__}")} \\
    && pip install \\
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
    """The Docker target's files: ``Dockerfile`` and ``.dockerignore``."""
    return {"Dockerfile": render_dockerfile(ctx), ".dockerignore": DOCKERIGNORE}


__all__ = [
    "BASE_IMAGE",
    "MLFLOW_REQUIREMENT",
    "USER_ID",
    "install_packages",
    "render_docker",
    "render_dockerfile",
    "requirement_name",
]
