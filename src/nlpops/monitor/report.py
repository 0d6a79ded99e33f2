"""``nlpops monitor REF``: the stored live statistics of a model version against its reference."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from nlpops.bundle import read_manifest
from nlpops.checklist import MonitoringSettings, RegistrySettings
from nlpops.errors import BundleError
from nlpops.monitor.drift import DriftReport, DriftThresholds, detect_drift
from nlpops.monitor.live import LiveStats, merge_windows
from nlpops.monitor.redact import PiiRedactor
from nlpops.monitor.store import StatsStore
from nlpops.registry import resolve_bundle

STATS_FILE = "monitor.db"


def stats_store_for(monitoring: MonitoringSettings, registry: RegistrySettings) -> StatsStore:
    """The live-statistics store: ``monitoring.stats_path``, else ``monitor.db`` in the registry home.

    Args:
        monitoring: the ``monitoring`` section.
        registry: the ``registry`` section.

    Returns:
        The store (the file is created on the first write).
    """
    return StatsStore(monitoring.stats_path or Path(registry.home) / STATS_FILE)


def build_live_stats(monitoring: MonitoringSettings, registry: RegistrySettings) -> LiveStats:
    """Live statistics as the ``monitoring`` section asks (store, flush interval, redaction, stored texts).

    Args:
        monitoring: the ``monitoring`` section.
        registry: the ``registry`` section (where the store lives by default).

    Returns:
        A :class:`LiveStats` with a SQLite store.
    """
    return LiveStats(
        stats_store_for(monitoring, registry),
        redactor=PiiRedactor() if monitoring.pii_redaction else None,
        store_texts=monitoring.store_texts,
    )


def check_drift(
    ref: str,
    monitoring: MonitoringSettings,
    registry: RegistrySettings,
    *,
    window_s: float | None = None,
    clock: Callable[[], float] = time.time,
) -> DriftReport:
    """Compare the stored live statistics of the version ``ref`` names with that version's reference.

    Args:
        ref: a bundle path, ``NAME``, ``NAME@ALIAS`` or ``NAME:VERSION``.
        monitoring: the ``monitoring`` section (thresholds, window, store).
        registry: the ``registry`` section.
        window_s: the window to look back over (default ``monitoring.window_s``).
        clock: Unix time source.

    Returns:
        The drift report (``status`` is ``insufficient_data`` when the service saw too few texts).

    Raises:
        RegistryError / NotFoundError: the ref does not resolve. BundleError: its bundle is unreadable, or it
        has no reference statistics (a model packaged without reference data).
        ConfigError: the store cannot be read.
    """
    resolved = resolve_bundle(ref, registry)
    entry = resolved.entry
    manifest = read_manifest(resolved.path)
    name = entry.name if entry is not None else manifest.name
    version = str(entry.version) if entry is not None else manifest.version
    if "rows" not in manifest.reference:
        how = "it was packaged without --data" if manifest.package is not None else "its bundle records none"
        raise BundleError(
            f'"{name}" version {version} has no reference statistics to compare live traffic with ({how}). '
            f"Package it again with --data REFERENCE.csv (texts like those it serves) and register that version."
        )
    since = clock() - (window_s if window_s is not None else monitoring.window_s)
    live = merge_windows(stats_store_for(monitoring, registry).load_windows(name, version, since_ts=since))
    return detect_drift(
        manifest.reference,
        live,
        DriftThresholds.from_settings(monitoring),
        model=name,
        version=version,
        languages=manifest.languages,
        task=manifest.task,
    )


__all__ = ["STATS_FILE", "build_live_stats", "check_drift", "stats_store_for"]
