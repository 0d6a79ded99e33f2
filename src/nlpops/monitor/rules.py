"""Prometheus alerting rules and a Grafana dashboard for the metrics the service exports.

Metric names (from :mod:`nlpops.serve.metrics` and :mod:`nlpops.monitor.gauges`):
``nlpops_http_requests_total{route,status}``, ``nlpops_http_request_duration_seconds{route}`` (histogram),
``nlpops_batch_size`` (histogram), ``nlpops_queue_depth``, ``nlpops_model_info{model,version}``,
``nlpops_predictions_total{model,label}``, ``nlpops_model_load_failures_total{model}``,
``nlpops_drift_detected{model,version,statistic,lang}``, ``nlpops_drift_psi{...}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from nlpops.errors import ConfigError

RULES_FILE = "nlpops-alerts.yml"
DASHBOARD_FILE = "nlpops-dashboard.json"
_CLASSIFY = 'route="/v1/classify"'


def build_alert_rules(
    *, job: str = "nlpops", p95_ms: float = 200.0, max_queue: int = 1024, error_rate: float = 0.01
) -> dict[str, Any]:
    """The alerting rules as a Prometheus rule-file document.

    Args:
        job: the Prometheus job name that scrapes the service.
        p95_ms: the latency objective (``latency.p95_ms``).
        max_queue: the queue limit (``serving.max_queue``); saturation alerts at 80 %.
        error_rate: the share of 5xx answers that alerts.

    Returns:
        ``{"groups": [...]}`` ready for ``yaml.safe_dump``.
    """
    p95_s = p95_ms / 1000.0
    requests = f'sum(rate(nlpops_http_requests_total{{job="{job}",{_CLASSIFY}}}[5m]))'
    errors = f'sum(rate(nlpops_http_requests_total{{job="{job}",{_CLASSIFY},status=~"5.."}}[5m]))'
    latency = (
        f"histogram_quantile(0.95, sum by (le) (rate(nlpops_http_request_duration_seconds_bucket"
        f'{{job="{job}",{_CLASSIFY}}}[5m])))'
    )
    rules = [
        _rule(
            "NlpopsServiceDown",
            f'up{{job="{job}"}} == 0',
            "2m",
            "critical",
            "nlpops service {{ $labels.instance }} is down",
            "Prometheus cannot scrape {{ $labels.instance }}. Check the process or pod and its /healthz.",
        ),
        _rule(
            "NlpopsHighErrorRate",
            f"{errors} / {requests} > {error_rate}",
            "5m",
            "critical",
            "More than {error:.0%} of classify requests fail".replace("{error:.0%}", f"{error_rate:.0%}"),
            "5xx answers are {{ $value | humanizePercentage }} of /v1/classify. Read the service log.",
        ),
        _rule(
            "NlpopsLatencyAboveSlo",
            f"{latency} > {p95_s:g}",
            "10m",
            "warning",
            f"p95 latency of /v1/classify is above the {p95_ms:g} ms objective",
            "p95 is {{ $value | humanizeDuration }}. Add replicas or check batching (nlpops plan).",
        ),
        _rule(
            "NlpopsQueueSaturated",
            f'max(nlpops_queue_depth{{job="{job}"}}) > {0.8 * max_queue:g}',
            "5m",
            "warning",
            "The request queue is above 80% of serving.max_queue",
            "{{ $value }} texts are waiting; requests will soon get 503. Scale out.",
        ),
        _rule(
            "NlpopsModelLoadFailures",
            f'increase(nlpops_model_load_failures_total{{job="{job}"}}[15m]) > 0',
            "0m",
            "critical",
            "A model version failed to load",
            "{{ $labels.model }} could not load a new version; the old one keeps serving. "
            "Check the bundle, then nlpops registry rollback.",
        ),
        _rule(
            "NlpopsDriftDetected",
            f'max by (model, version, statistic, lang) (nlpops_drift_detected{{job="{job}"}}) > 0',
            "30m",
            "warning",
            "Input drift on {{ $labels.model }} v{{ $labels.version }}",
            "{{ $labels.statistic }} ({{ $labels.lang }}) drifted from the reference. "
            "Run: nlpops monitor {{ $labels.model }}@production, then consider nlpops retrain.",
        ),
    ]
    return {"groups": [{"name": "nlpops", "rules": rules}]}


def _rule(name: str, expr: str, for_: str, severity: str, summary: str, description: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr}
    if for_ != "0m":
        rule["for"] = for_
    rule["labels"] = {"severity": severity}
    rule["annotations"] = {"summary": summary, "description": description}
    return rule


def build_dashboard(*, job: str = "nlpops", p95_ms: float = 200.0) -> dict[str, Any]:
    """A Grafana dashboard (JSON model) over the service's metrics, with a ``datasource`` variable.

    Args:
        job: the Prometheus job name.
        p95_ms: the latency objective, drawn as a threshold.

    Returns:
        The dashboard JSON model (import it in Grafana, or provision it).
    """
    sel = f'job="{job}"'
    panels = [
        (
            "Requests per second by status",
            f"sum by (status) (rate(nlpops_http_requests_total{{{sel},{_CLASSIFY}}}[1m]))",
            "reqps",
        ),
        ("Latency p50 / p95 / p99", None, "s"),
        (
            "Error rate (5xx)",
            f'sum(rate(nlpops_http_requests_total{{{sel},status=~"5.."}}[5m])) / '
            f"sum(rate(nlpops_http_requests_total{{{sel}}}[5m]))",
            "percentunit",
        ),
        ("Queue depth", f"sum(nlpops_queue_depth{{{sel}}})", "short"),
        ("Batch size p50 / p95", None, "short"),
        ("Predicted labels per second", f"sum by (label) (rate(nlpops_predictions_total{{{sel}}}[5m]))", "ops"),
        ("Live model version", f"max by (model, version) (nlpops_model_info{{{sel}}})", "short"),
        ("Model load failures", f"sum(increase(nlpops_model_load_failures_total{{{sel}}}[1h]))", "short"),
        ("Drift PSI by statistic", f"max by (statistic, lang) (nlpops_drift_psi{{{sel}}})", "short"),
        ("Drift detected", f"max by (statistic, lang) (nlpops_drift_detected{{{sel}}})", "short"),
    ]
    quantile = "histogram_quantile({q}, sum by (le) (rate({metric}_bucket{{{sel}{extra}}}[5m])))"
    special = {
        "Latency p50 / p95 / p99": [
            quantile.format(q=q, metric="nlpops_http_request_duration_seconds", sel=sel, extra="," + _CLASSIFY)
            for q in ("0.5", "0.95", "0.99")
        ],
        "Batch size p50 / p95": [
            quantile.format(q=q, metric="nlpops_batch_size", sel=sel, extra="") for q in ("0.5", "0.95")
        ],
    }
    out = []
    for index, (title, expr, unit) in enumerate(panels):
        exprs = special.get(title) or [str(expr)]
        panel: dict[str, Any] = {
            "id": index + 1,
            "type": "timeseries",
            "title": title,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": chr(65 + i), "expr": e} for i, e in enumerate(exprs)],
        }
        if title.startswith("Latency"):
            panel["fieldConfig"]["defaults"]["thresholds"] = {
                "mode": "absolute",
                "steps": [{"color": "green", "value": None}, {"color": "red", "value": p95_ms / 1000.0}],
            }
        out.append(panel)
    return {
        "title": "nlpops service",
        "uid": "nlpops-service",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "tags": ["nlpops"],
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]
        },
        "panels": out,
    }


def save_monitoring_files(
    out_dir: Path | str, *, job: str = "nlpops", p95_ms: float = 200.0, max_queue: int = 1024
) -> list[Path]:
    """Write the alerting rules and the Grafana dashboard into ``out_dir``.

    Args:
        out_dir: the folder (created if missing).
        job: the Prometheus job name.
        p95_ms: the latency objective.
        max_queue: the queue limit.

    Returns:
        The two paths written.

    Raises:
        ConfigError: ``out_dir`` cannot be written.
    """
    folder = Path(out_dir)
    rules = build_alert_rules(job=job, p95_ms=p95_ms, max_queue=max_queue)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        rules_path = folder / RULES_FILE
        rules_path.write_text(yaml.safe_dump(rules, sort_keys=False, width=1000), encoding="utf-8")
        dashboard_path = folder / DASHBOARD_FILE
        dashboard_path.write_text(json.dumps(build_dashboard(job=job, p95_ms=p95_ms), indent=2), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f'Cannot write monitoring files to "{folder}": {exc.strerror}. Choose a writable folder.'
        ) from exc
    return [rules_path, dashboard_path]


__all__ = ["DASHBOARD_FILE", "RULES_FILE", "build_alert_rules", "build_dashboard", "save_monitoring_files"]
