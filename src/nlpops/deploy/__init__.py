"""Deployment artifacts of the plan's choice: Dockerfile, Compose with Prometheus and Grafana, Kubernetes
manifests, a Ray Serve config. Every file is validated before it is written.

``render_deployment(build_context(load_plan("plan.json")), "kubernetes", "deploy/")`` is ``nlpops deploy``.
"""

from __future__ import annotations

from nlpops.deploy.context import DeployContext, build_context, check_plan
from nlpops.deploy.render import TARGETS, DeployResult, render_deployment, render_files
from nlpops.deploy.validate import KUBERNETES_VERSION

__all__ = [
    "KUBERNETES_VERSION",
    "TARGETS",
    "DeployContext",
    "DeployResult",
    "build_context",
    "check_plan",
    "render_deployment",
    "render_files",
]
