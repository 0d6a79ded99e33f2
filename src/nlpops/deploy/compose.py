"""The Compose target: the service, Prometheus (scraping ``/metrics``, with alert rules) and Grafana with a
provisioned dashboard, next to the Docker target's Dockerfile.

Where the service's model comes from is said at the top of ``compose.yaml``: a bundle baked into the image,
the MLflow registry, or (the default) the registry folder of the machine that rendered it, bind-mounted at
``/var/lib/nlpops`` (``NLPOPS_REGISTRY_DIR`` overrides the folder) and written to as the folder's owner
(``NLPOPS_UID`` / ``NLPOPS_GID`` override it), so ``nlpops registry promote`` there moves what the service
serves.

The alert rules and the dashboard are the monitoring package's (``nlpops monitor --emit-rules``); a minimal
rule file and dashboard are written when that package is not available.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from nlpops.deploy.context import DeployContext
from nlpops.deploy.docker import USER_ID, render_docker

PROMETHEUS_IMAGE = "prom/prometheus:v2.55.1"
GRAFANA_IMAGE = "grafana/grafana:11.3.1"
RULES_PATH = "prometheus/nlpops-alerts.yml"
DASHBOARD_PATH = "grafana/dashboards/nlpops-dashboard.json"
REGISTRY_MOUNT = "/var/lib/nlpops"
# Paths written into compose.yaml as they are: no "$" (interpolation), quotes, colons (volume syntax) or spaces.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._/+@-]*")


def registry_volume(ctx: DeployContext) -> str:
    """The bind mount of the registry folder: ``${NLPOPS_REGISTRY_DIR:-<folder here>}:/var/lib/nlpops``."""
    folder = str(ctx.registry_dir) if ctx.registry_dir is not None else ""
    if _PLAIN_PATH.fullmatch(folder):
        return f"${{NLPOPS_REGISTRY_DIR:-{folder}}}:{REGISTRY_MOUNT}"
    return f"${{NLPOPS_REGISTRY_DIR:?set NLPOPS_REGISTRY_DIR to the registry folder (NLPOPS_HOME)}}:{REGISTRY_MOUNT}"


def compose_header(ctx: DeployContext) -> str:
    """The comment at the top of ``compose.yaml``: where the model comes from and how to start."""
    if ctx.bundle_dir is not None:
        source = ["the bundle baked into the image (bundle/ in this folder, at /app/bundle)."]
    elif ctx.mlflow:
        source = [f"{ctx.ref} from the MLflow registry."]
    else:
        source = [
            f"{ctx.ref} from the registry folder mounted at {REGISTRY_MOUNT}: NLPOPS_REGISTRY_DIR, by default",
            "the folder this file was rendered from. The service follows the alias there: after",
            "nlpops registry promote (on that folder) it hot-swaps to the new version.",
        ]
    lines = [f"Rendered by nlpops deploy for {ctx.name}. The model: {source[0]}", *source[1:]]
    lines.append("Start: GRAFANA_ADMIN_PASSWORD=... docker compose up --build")
    return "".join(f"# {line}\n" for line in lines)


def dump_yaml(data: Any) -> str:
    """YAML as every renderer writes it: block style, keys in insertion order, no line folding."""
    return yaml.safe_dump(data, sort_keys=False, width=1000, default_flow_style=False)


def alert_rules(job: str, p95_ms: float, max_queue: int) -> dict[str, Any]:
    """The monitoring package's alert rules, or a minimal set (service down, p95 over the objective)."""
    try:
        from nlpops.monitor.rules import build_alert_rules
    except ImportError:
        p95_s = p95_ms / 1000.0
        latency = (
            "histogram_quantile(0.95, sum by (le) (rate(nlpops_http_request_duration_seconds_bucket"
            f'{{job="{job}",route="/v1/classify"}}[5m])))'
        )
        return {
            "groups": [
                {
                    "name": "nlpops",
                    "rules": [
                        {
                            "alert": "NlpopsServiceDown",
                            "expr": f'up{{job="{job}"}} == 0',
                            "for": "2m",
                            "labels": {"severity": "critical"},
                            "annotations": {"summary": "nlpops service {{ $labels.instance }} is down"},
                        },
                        {
                            "alert": "NlpopsLatencyOverObjective",
                            "expr": f"{latency} > {p95_s:g}",
                            "for": "10m",
                            "labels": {"severity": "warning"},
                            "annotations": {"summary": f"classify p95 above {p95_ms:g} ms"},
                        },
                    ],
                }
            ]
        }
    return build_alert_rules(job=job, p95_ms=p95_ms, max_queue=max_queue)


def dashboard(job: str, p95_ms: float) -> dict[str, Any]:
    """The monitoring package's Grafana dashboard, or a one-panel dashboard of request rates."""
    try:
        from nlpops.monitor.rules import build_dashboard
    except ImportError:
        return {
            "title": "nlpops service",
            "uid": "nlpops-service",
            "schemaVersion": 39,
            "panels": [
                {
                    "id": 1,
                    "type": "timeseries",
                    "title": "Requests per second by status",
                    "targets": [
                        {"refId": "A", "expr": f'sum by (status) (rate(nlpops_http_requests_total{{job="{job}"}}[1m]))'}
                    ],
                    "gridPos": {"h": 8, "w": 24, "x": 0, "y": 0},
                }
            ],
        }
    return build_dashboard(job=job, p95_ms=p95_ms)


def prometheus_config(targets: list[str], job: str, rules_file: str, *, interval_s: int = 15) -> dict[str, Any]:
    """A Prometheus config that scrapes ``targets`` (host:port) at ``/metrics`` and loads ``rules_file``."""
    return {
        "global": {"scrape_interval": f"{interval_s}s", "evaluation_interval": f"{interval_s}s"},
        "rule_files": [rules_file],
        "scrape_configs": [{"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": targets}]}],
    }


def compose_document(ctx: DeployContext) -> dict[str, Any]:
    """The ``compose.yaml`` document."""
    port = ctx.container_port
    cap = ctx.capacity
    service: dict[str, Any] = {
        "build": {"context": ".", "dockerfile": "Dockerfile"},
        "image": ctx.image,
        "command": ["serve", ctx.ref],
        "ports": [f"127.0.0.1:{port}:{port}"],
        "environment": {
            "NLPOPS_SERVING__MAX_BATCH_SIZE": str(ctx.serving.max_batch_size),
            "NLPOPS_SERVING__MAX_WAIT_MS": f"{ctx.serving.max_wait_ms:g}",
            # API keys come from the shell or an .env file next to compose.yaml; never written here.
            "NLPOPS_SERVING__API_KEYS": "${NLPOPS_API_KEYS:-[]}",
            **ctx.registry_env(),
        },
        "user": _service_user(ctx),
        "read_only": True,
        "tmpfs": ["/tmp"],
        "restart": "unless-stopped",
        "healthcheck": {
            "test": [
                "CMD",
                "python",
                "-c",
                f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/healthz', timeout=2)",
            ],
            "interval": "30s",
            "timeout": "3s",
            "retries": 3,
            "start_period": "30s",
        },
        "deploy": {
            "resources": {
                "limits": {"memory": f"{int(cap['memory_limit_mib'])}M"},
                "reservations": {"cpus": str(cap["cpu_request"]), "memory": f"{int(cap['memory_request_mib'])}M"},
            }
        },
    }
    if ctx.mlflow:
        service["tmpfs"].append("/var/lib/nlpops")  # the MLflow download cache
    elif ctx.bundle_dir is None:
        service["volumes"] = [registry_volume(ctx)]
    document: dict[str, Any] = {
        "services": {
            ctx.slug: service,
            "prometheus": {
                "image": PROMETHEUS_IMAGE,
                "command": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"],
                "ports": ["127.0.0.1:9090:9090"],
                "volumes": [
                    "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
                    f"./{RULES_PATH}:/etc/prometheus/nlpops-alerts.yml:ro",
                    "prometheus-data:/prometheus",
                ],
                "depends_on": [ctx.slug],
                "restart": "unless-stopped",
            },
            "grafana": {
                "image": GRAFANA_IMAGE,
                "ports": ["127.0.0.1:3000:3000"],
                "environment": {
                    "GF_SECURITY_ADMIN_PASSWORD": "${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}",
                    "GF_USERS_ALLOW_SIGN_UP": "false",
                },
                "volumes": [
                    "./grafana/provisioning:/etc/grafana/provisioning:ro",
                    "./grafana/dashboards:/var/lib/grafana/dashboards:ro",
                    "grafana-data:/var/lib/grafana",
                ],
                "depends_on": ["prometheus"],
                "restart": "unless-stopped",
            },
        },
        "volumes": {"prometheus-data": {}, "grafana-data": {}},
    }
    return document


def _service_user(ctx: DeployContext) -> str:
    """The image's user, or (with a mounted registry folder) that folder's owner, so the service can write there."""
    if ctx.bundle_dir is not None or ctx.mlflow or ctx.registry_dir is None:
        return f"{USER_ID}:{USER_ID}"
    uid, gid = ctx.registry_owner or (USER_ID, USER_ID)
    return f"${{NLPOPS_UID:-{uid}}}:${{NLPOPS_GID:-{gid}}}"


def render_compose(ctx: DeployContext) -> dict[str, str]:
    """The Compose target's files: the Docker files, ``compose.yaml``, the Prometheus config and alert rules,
    and Grafana's provisioning (data source, dashboard provider, dashboard)."""
    job = ctx.slug
    p95_ms = float(ctx.checklist["latency"]["p95_ms"])
    files = render_docker(ctx)
    files["compose.yaml"] = compose_header(ctx) + dump_yaml(compose_document(ctx))
    files["prometheus/prometheus.yml"] = dump_yaml(
        prometheus_config([f"{ctx.slug}:{ctx.container_port}"], job, "nlpops-alerts.yml")
    )
    files[RULES_PATH] = dump_yaml(alert_rules(job, p95_ms, ctx.serving.max_queue))
    files["grafana/provisioning/datasources/prometheus.yml"] = dump_yaml(
        {
            "apiVersion": 1,
            "datasources": [
                {"name": "Prometheus", "type": "prometheus", "access": "proxy", "url": "http://prometheus:9090"}
            ],
        }
    )
    files["grafana/provisioning/dashboards/nlpops.yml"] = dump_yaml(
        {
            "apiVersion": 1,
            "providers": [
                {"name": "nlpops", "type": "file", "options": {"path": "/var/lib/grafana/dashboards"}},
            ],
        }
    )
    files[DASHBOARD_PATH] = json.dumps(dashboard(job, p95_ms), indent=2) + "\n"
    return files


__all__ = [
    "REGISTRY_MOUNT",
    "alert_rules",
    "compose_document",
    "compose_header",
    "dashboard",
    "dump_yaml",
    "prometheus_config",
    "registry_volume",
    "render_compose",
]
