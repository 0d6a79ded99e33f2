"""The Kubernetes target: Deployment, Service, HorizontalPodAutoscaler and PodDisruptionBudget per service (one
per language when the plan's topology is per-language), ConfigMap and Secret, an optional ServiceMonitor, and
CronJobs for batch runs and retraining.

Where KServe is installed (``infrastructure.kserve``), each service is a KServe ``InferenceService`` instead:
the nlpops container as a custom predictor in RawDeployment mode, so KServe creates the Deployment, Service and
HPA (CPU-based, with the same bounds); a PodDisruptionBudget and, with Prometheus, a PodMonitor select its pods.
With ``infrastructure.kserve_protocol: v2`` (the default) the predictor declares the Open Inference Protocol
(``PROTOCOL=v2``, which KServe reads from a custom container's environment) and is probed on ``/v2/health``.

Replica bounds and resources are the plan's capacity figures (see :meth:`DeployContext.replica_bounds`).
"""

from __future__ import annotations

from typing import Any

from nlpops.deploy.context import DeployContext, memory_quantity
from nlpops.deploy.docker import USER_ID

API_KEYS_PLACEHOLDER = "REPLACE-WITH-A-JSON-LIST-OF-API-KEYS"  # not JSON: the service refuses to start on it
DEFAULT_BATCH_SCHEDULE = "0 1 * * *"
_REGISTRY_MOUNT = "/var/lib/nlpops"
Manifest = dict[str, Any]


def _labels(ctx: DeployContext, component: str, lang: str | None = None) -> dict[str, str]:
    labels = {
        "app.kubernetes.io/name": ctx.slug,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "nlpops",
    }
    if lang is not None:
        labels["nlpops.dev/lang"] = lang
    return labels


def _meta(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "labels": labels}


def _resources(ctx: DeployContext, processes: int = 1, lang: str | None = None) -> dict[str, Any]:
    """Requests and limits of one pod running ``processes`` model processes (a batch run's workers); a language's
    service gets its own measured figures when the plan sized languages apart. The GPU is requested (and
    limited) when the plan chose the GPU runtime."""
    cap = ctx.capacity
    own = (cap.get("languages") or {}).get(lang) if lang is not None else None
    cpu = float(own["threads"] if own else cap["cpu_request"])
    memory = float(own["memory_request_mib"] if own else cap["memory_request_mib"])
    limit = memory * 2 if own else float(cap["memory_limit_mib"])
    resources: dict[str, Any] = {
        "requests": {"cpu": f"{cpu * processes:g}", "memory": memory_quantity(memory * processes)},
        "limits": {"memory": memory_quantity(limit * processes)},
    }
    gpus = int(cap.get("gpu_request") or (1 if ctx.gpu else 0))
    if gpus:
        resources["requests"]["nvidia.com/gpu"] = gpus
        resources["limits"]["nvidia.com/gpu"] = gpus
    return resources


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": USER_ID,
        "runAsGroup": USER_ID,
        "fsGroup": USER_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _env_sources(ctx: DeployContext) -> list[dict[str, Any]]:
    return [
        {"configMapRef": {"name": f"{ctx.slug}-config"}},
        {"secretRef": {"name": f"{ctx.slug}-api-keys"}},
    ]


def _volumes(ctx: DeployContext, *, registry_writable: bool = False) -> tuple[list[Any], list[Any]]:
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    if ctx.mlflow:
        # The model comes from the MLflow server; the registry folder is only its verified download cache.
        volumes.append({"name": "registry", "emptyDir": {}})
        mounts.append({"name": "registry", "mountPath": _REGISTRY_MOUNT})
    elif ctx.bundle_dir is None or registry_writable:
        volumes.append({"name": "registry", "persistentVolumeClaim": {"claimName": f"{ctx.slug}-registry"}})
        mounts.append({"name": "registry", "mountPath": _REGISTRY_MOUNT, "readOnly": not registry_writable})
    return volumes, mounts


def _probe(path: str, period_s: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period_s,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _service_name(ctx: DeployContext, lang: str | None) -> str:
    return ctx.slug if lang is None else f"{ctx.slug}-{lang}"


def _server_selector(ctx: DeployContext, lang: str | None) -> dict[str, str]:
    selector = {"app.kubernetes.io/name": ctx.slug, "app.kubernetes.io/component": "server"}
    if lang is not None:
        selector["nlpops.dev/lang"] = lang
    return selector


def _server_pod(ctx: DeployContext, lang: str | None, container_name: str, *, v2: bool = False) -> dict[str, Any]:
    """The pod spec of one service: the nlpops container, probes, security context and volumes.

    With ``v2`` the container declares the Open Inference Protocol to KServe and is probed on its health routes.
    """
    volumes, mounts = _volumes(ctx)
    args = ["serve", ctx.ref] + (["--lang", lang] if lang is not None else [])
    live, ready = ("/v2/health/live", "/v2/health/ready") if v2 else ("/healthz", "/readyz")
    container: dict[str, Any] = {
        "name": container_name,
        "image": ctx.image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "ports": [{"name": "http", "containerPort": ctx.container_port, "protocol": "TCP"}],
        "envFrom": _env_sources(ctx),
        "resources": _resources(ctx, lang=lang),
        "startupProbe": _probe(ready, 2, 60),
        "livenessProbe": _probe(live, 10, 3),
        "readinessProbe": _probe(ready, 5, 2),
        "securityContext": _container_security(),
        "volumeMounts": mounts,
    }
    if v2:
        container["env"] = [{"name": "PROTOCOL", "value": "v2"}]
    return {
        "securityContext": _pod_security(),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": volumes,
    }


def _utilisation_percent(ctx: DeployContext) -> int:
    return round(float(ctx.capacity.get("utilisation_target", 0.6)) * 100)


def _disruption_budget(ctx: DeployContext, lang: str | None) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(_service_name(ctx, lang), _labels(ctx, "server", lang)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _server_selector(ctx, lang)}},
    }


def service_objects(ctx: DeployContext, lang: str | None) -> list[Manifest]:
    """Deployment, Service, HPA and PDB of one service (of one language when ``lang`` is given)."""
    name = _service_name(ctx, lang)
    labels = _labels(ctx, "server", lang)
    selector = _server_selector(ctx, lang)
    low, high = ctx.replica_bounds()
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, labels),
        "spec": {
            "replicas": low,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": labels}, "spec": _server_pod(ctx, lang, "nlpops")},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, labels),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(name, labels),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": low,
            "maxReplicas": high,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": _utilisation_percent(ctx)},
                    },
                }
            ],
        },
    }
    return [deployment, service, hpa, _disruption_budget(ctx, lang)]


def inference_service_objects(ctx: DeployContext, lang: str | None) -> list[Manifest]:
    """A KServe InferenceService (custom predictor, RawDeployment mode, HPA on CPU) and the PDB of its pods.

    KServe (0.15 and later; "RawDeployment" is the legacy name of 0.16's "Standard" mode, still accepted)
    creates the Deployment, Service and HPA itself. ``predictor.labels`` puts nlpops' labels on the pods,
    which the PodDisruptionBudget and the PodMonitor select.
    """
    name = _service_name(ctx, lang)
    labels = _labels(ctx, "server", lang)
    low, high = ctx.replica_bounds()
    v2 = ctx.checklist["infrastructure"].get("kserve_protocol", "v2") == "v2"
    isvc = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            **_meta(name, labels),
            "annotations": {
                "serving.kserve.io/deploymentMode": "RawDeployment",
                "serving.kserve.io/autoscalerClass": "hpa",
            },
        },
        "spec": {
            "predictor": {
                "minReplicas": low,
                "maxReplicas": high,
                "scaleMetric": "cpu",
                "scaleTarget": _utilisation_percent(ctx),
                "labels": labels,
                # KServe routes to the container it calls kserve-container.
                **_server_pod(ctx, lang, "kserve-container", v2=v2),
            }
        },
    }
    return [isvc, _disruption_budget(ctx, lang)]


def service_monitor(ctx: DeployContext) -> Manifest:
    """A Prometheus-operator ServiceMonitor scraping ``/metrics`` of every service of the model."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": _meta(ctx.slug, _labels(ctx, "metrics")),
        "spec": {
            "selector": {"matchLabels": _server_selector(ctx, None)},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        },
    }


def pod_monitor(ctx: DeployContext) -> Manifest:
    """A Prometheus-operator PodMonitor scraping ``/metrics`` of every pod of the model (KServe services)."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": _meta(ctx.slug, _labels(ctx, "metrics")),
        "spec": {
            "selector": {"matchLabels": _server_selector(ctx, None)},
            "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        },
    }


def _cron_job(
    ctx: DeployContext, name: str, schedule: str, args: list[str], *, writable: bool, processes: int = 1
) -> Manifest:
    volumes, mounts = _volumes(ctx, registry_writable=writable)
    volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": f"{ctx.slug}-data"}})
    mounts.append({"name": "data", "mountPath": "/data"})
    labels = _labels(ctx, name.removeprefix(f"{ctx.slug}-"))
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _meta(name, labels),
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 2,
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "securityContext": _pod_security(),
                            "automountServiceAccountToken": False,
                            "containers": [
                                {
                                    "name": "nlpops",
                                    "image": ctx.image,
                                    "args": args,
                                    "envFrom": _env_sources(ctx),
                                    "resources": _resources(ctx, processes),
                                    "securityContext": _container_security(),
                                    "volumeMounts": mounts,
                                }
                            ],
                            "volumes": volumes,
                        },
                    },
                }
            },
        },
    }


def _claim(ctx: DeployContext, name: str, size: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta(name, _labels(ctx, "storage")),
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": size}}},
    }


def render_kubernetes_objects(
    ctx: DeployContext, *, batch_schedule: str = DEFAULT_BATCH_SCHEDULE, api_keys: list[str] | None = None
) -> list[Manifest]:
    """Every Kubernetes object of the plan, as dicts.

    Args:
        ctx: the deploy context.
        batch_schedule: cron schedule of the batch CronJob (mode ``batch`` or ``both``).
        api_keys: API keys to put in the Secret; None writes a placeholder the service refuses to start with.

    Returns:
        The objects, in apply order.
    """
    import json

    serving = ctx.serving
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(f"{ctx.slug}-config", _labels(ctx, "config")),
        "data": {
            "NLPOPS_HOME": _REGISTRY_MOUNT,
            "NLPOPS_SERVING__HOST": "0.0.0.0",
            "NLPOPS_SERVING__PORT": str(ctx.container_port),
            "NLPOPS_SERVING__MAX_BATCH_SIZE": str(serving.max_batch_size),
            "NLPOPS_SERVING__MAX_WAIT_MS": f"{serving.max_wait_ms:g}",
            "NLPOPS_SERVING__MAX_QUEUE": str(serving.max_queue),
            **ctx.registry_env(),
        },
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(f"{ctx.slug}-api-keys", _labels(ctx, "config")),
        "type": "Opaque",
        "stringData": {"NLPOPS_SERVING__API_KEYS": json.dumps(api_keys) if api_keys else API_KEYS_PLACEHOLDER},
    }
    objects: list[Manifest] = [config, secret]
    needs_registry = not ctx.mlflow and (ctx.bundle_dir is None or bool(ctx.checklist["retraining"].get("schedule")))
    mode = ctx.chosen["mode"]
    if needs_registry:
        objects.append(_claim(ctx, f"{ctx.slug}-registry", "5Gi"))
    if mode in ("batch", "both") or ctx.checklist["retraining"].get("schedule"):
        objects.append(_claim(ctx, f"{ctx.slug}-data", "20Gi"))
    if ctx.online:
        service_langs: list[str | None] = list(ctx.languages) or [None]
        kserve = bool(ctx.checklist["infrastructure"].get("kserve"))
        for lang in service_langs:
            objects.extend(inference_service_objects(ctx, lang) if kserve else service_objects(ctx, lang))
        if ctx.checklist["infrastructure"].get("prometheus"):
            objects.append(pod_monitor(ctx) if kserve else service_monitor(ctx))
    if mode in ("batch", "both"):
        # As many worker processes as the plan needs to finish a run within its batch window.
        workers = max(1, int((ctx.capacity.get("batch") or {}).get("workers_for_window") or 1))
        args = ["batch", ctx.ref, "--input", "/data/input.csv", "--output", "/data/predictions.csv"]
        args += ["--workers", str(workers)]
        job = _cron_job(ctx, f"{ctx.slug}-batch", batch_schedule, args, writable=False, processes=workers)
        objects.append(job)
    schedule = ctx.checklist["retraining"].get("schedule")
    if schedule:
        args = ["retrain", "--data", "/data/train.csv", "--name", ctx.name, "--alias", ctx.alias]
        args += ["--out-dir", f"{_REGISTRY_MOUNT}/challengers"]
        objects.append(_cron_job(ctx, f"{ctx.slug}-retrain", str(schedule), args, writable=True))
    return objects


def object_file_name(obj: Manifest) -> str:
    """Where an object is written: ``kubernetes/<kind>-<name>.yaml``."""
    return f"kubernetes/{str(obj['kind']).lower()}-{obj['metadata']['name']}.yaml"


__all__ = [
    "API_KEYS_PLACEHOLDER",
    "DEFAULT_BATCH_SCHEDULE",
    "inference_service_objects",
    "object_file_name",
    "pod_monitor",
    "render_kubernetes_objects",
    "service_monitor",
    "service_objects",
]
