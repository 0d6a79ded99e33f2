"""Monitoring: live statistics, drift against the bundle's reference, alert rules, dashboards, status page.

The service (``nlpops.serve``) sits below this package and never imports it; it is handed a
:class:`ServiceMonitor` (observer, status JSON, status page), or wrapped by :func:`monitor_app`.
"""

from __future__ import annotations

from nlpops.monitor.asgi import MonitoredApp, current_model_of, monitor_app
from nlpops.monitor.drift import DriftReport, DriftThresholds, StatisticDrift, detect_drift
from nlpops.monitor.gauges import DriftGauges
from nlpops.monitor.live import LiveStats, merge_windows
from nlpops.monitor.redact import PiiRedactor
from nlpops.monitor.report import build_live_stats, check_drift, stats_store_for
from nlpops.monitor.rules import build_alert_rules, build_dashboard, save_monitoring_files
from nlpops.monitor.service import ServedModel, ServiceMonitor
from nlpops.monitor.store import StatsStore

__all__ = [
    "DriftGauges",
    "DriftReport",
    "DriftThresholds",
    "LiveStats",
    "MonitoredApp",
    "PiiRedactor",
    "ServedModel",
    "ServiceMonitor",
    "StatisticDrift",
    "StatsStore",
    "build_alert_rules",
    "build_dashboard",
    "build_live_stats",
    "check_drift",
    "current_model_of",
    "detect_drift",
    "merge_windows",
    "monitor_app",
    "save_monitoring_files",
    "stats_store_for",
]
