"""The Ray target: a Ray Serve config file (``serve deploy ray-serve.yaml`` / ``serve run``) for a cluster.

The application is :func:`nlpops.serve.ray.app_builder` (the same service as ``nlpops serve --engine ray``);
its autoscaling bounds are the plan's capacity figures and each replica reserves the plan's CPU and memory.
"""

from __future__ import annotations

from typing import Any

from nlpops.deploy.context import DeployContext, memory_bytes

IMPORT_PATH = "nlpops.serve.ray:app_builder"
DEPLOYMENT_NAME = "NlpopsClassifier"


def ray_serve_config(ctx: DeployContext) -> dict[str, Any]:
    """The Ray Serve config document (``applications`` with ``import_path``, ``args`` and ``deployments``)."""
    low, high = ctx.replica_bounds()
    cap = ctx.capacity
    serving = ctx.serving
    actor: dict[str, Any] = {
        "num_cpus": float(cap["cpu_request"]),
        "memory": memory_bytes(cap["memory_request_mib"]),
    }
    if ctx.gpu:
        actor["num_gpus"] = 1.0
    deployment = {
        "name": DEPLOYMENT_NAME,
        "max_ongoing_requests": max(serving.max_batch_size * 2, 8),
        "autoscaling_config": {
            "min_replicas": low,
            "initial_replicas": low,
            "max_replicas": high,
            "target_ongoing_requests": max(1, serving.max_batch_size // 2),
        },
        "ray_actor_options": actor,
    }
    args: dict[str, Any] = {
        "ref": ctx.ref,
        "max_batch_size": serving.max_batch_size,
        "batch_wait_timeout_s": serving.max_wait_ms / 1000.0,
    }
    if serving.lang:
        args["lang"] = serving.lang
    return {
        "proxy_location": "EveryNode",
        "http_options": {"host": "0.0.0.0", "port": 8000},
        "applications": [
            {
                "name": ctx.slug,
                "route_prefix": "/",
                "import_path": IMPORT_PATH,
                "args": args,
                "deployments": [deployment],
            }
        ],
    }


def render_ray(ctx: DeployContext) -> dict[str, Any]:
    """The Ray target's document, keyed by file name (``ray-serve.yaml``)."""
    return {"ray-serve.yaml": ray_serve_config(ctx)}


__all__ = ["DEPLOYMENT_NAME", "IMPORT_PATH", "ray_serve_config", "render_ray"]
