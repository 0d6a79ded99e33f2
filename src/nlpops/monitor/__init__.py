"""Monitoring: live statistics, drift against the bundle's reference, alert rules, dashboards, status page.

The service (``nlpops.serve``) sits below this package and never imports it; it is handed a
:class:`ServiceMonitor` as its hooks (observer, status JSON, status page): ``nlpops serve`` names
:func:`hooks_for` by its dotted path :data:`HOOKS_PATH`; embedders pass :func:`monitor_hooks` to ``build_app``.
"""

from __future__ import annotations

from nlpops.monitor.drift import DriftReport, DriftThresholds, StatisticDrift, detect_drift
from nlpops.monitor.gauges import DriftGauges
from nlpops.monitor.live import LiveStats, merge_windows
from nlpops.monitor.redact import PiiRedactor
from nlpops.monitor.report import build_live_stats, check_drift, stats_store_for
from nlpops.monitor.rules import build_alert_rules, build_dashboard, save_monitoring_files
from nlpops.monitor.service import (
    HOOKS_PATH,
    ServedModel,
    ServiceMonitor,
    current_model_of,
    hooks_for,
    monitor_hooks,
)
from nlpops.monitor.store import StatsStore

__all__ = [
    "HOOKS_PATH",
    "DriftGauges",
    "DriftReport",
    "DriftThresholds",
    "LiveStats",
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
    "hooks_for",
    "merge_windows",
    "monitor_hooks",
    "save_monitoring_files",
    "stats_store_for",
]
