"""Measured facts about a bundle on the machine at hand (``nlpops profile``).

Everything is measured, nothing estimated: size on disk, the installed size of the packages its runtime
needs (and of the ONNX runtime, for comparison), cold start (process start to first prediction), memory
(RSS after load, peak RSS, and the model's own share: the growth when a second copy is loaded),
single-text latency percentiles and throughput per batch size, measured in a fresh interpreter on the
bundle's own reference texts. The result is a JSON-able dict whose layout is
documented in docs/advisor.md (``PROFILE_SCHEMA_VERSION``).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nlpops.bundle import load_bundle
from nlpops.errors import PlanError
from nlpops.profile.footprint import measure_footprint

PROFILE_SCHEMA_VERSION = 1
DEFAULT_BATCH_SIZES = (1, 8, 32, 128)
ONNX_REQUIREMENTS = ("onnxruntime",)
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def gpu_present() -> bool:
    """Whether this machine has an NVIDIA GPU visible to the driver (no framework is imported)."""
    return Path("/proc/driver/nvidia/gpus").is_dir() or shutil.which("nvidia-smi") is not None


def _texts_for(bundle_texts: list[str] | None, texts: Sequence[str] | None, path: Path) -> list[str]:
    chosen = list(texts) if texts is not None else list(bundle_texts or [])
    chosen = [t for t in chosen if isinstance(t, str) and t.strip()]
    if not chosen:
        raise PlanError(
            f'Bundle "{path}" has no reference texts to profile with. Pass texts (--texts FILE) or rebuild the bundle.'
        )
    return chosen


def profile_bundle(
    bundle_dir: Path | str,
    *,
    texts: Sequence[str] | None = None,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    budget_s: float = 4.0,
    threads: int = 1,
    timeout_s: float = 600.0,
) -> dict[str, Any]:
    """Measure a bundle in a fresh Python process.

    Args:
        bundle_dir: the bundle directory.
        texts: texts to predict; default: the bundle's reference texts (``manifest.reference["texts"]``).
        batch_sizes: batch sizes for the throughput measurement.
        budget_s: about how long the latency and throughput loops run, in total.
        threads: math-library threads in the measuring process (1 = what one CPU of a replica gives).
        timeout_s: the measuring process is killed after this long.

    Returns:
        The profile (see docs/advisor.md for the fields).

    Raises:
        BundleError: the bundle fails verification.
        PlanError: no texts, or the measuring process failed or timed out.
    """
    bundle = load_bundle(bundle_dir)
    manifest = bundle.manifest
    sample = _texts_for(manifest.reference.get("texts"), texts, bundle.path)
    if any(size < 1 for size in batch_sizes):
        raise PlanError(f"Batch sizes must be >= 1, got {list(batch_sizes)}.")
    job = {"bundle": str(bundle.path), "texts": sample, "batch_sizes": list(batch_sizes), "budget_s": budget_s}
    env = dict(os.environ)
    env.update({name: str(threads) for name in _THREAD_VARS})
    started = time.time()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "nlpops.profile.child"],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PlanError(
            f'Profiling "{bundle.path}" took longer than {timeout_s:.0f} s and was stopped. Lower --budget-s.'
        ) from exc
    try:
        child = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        child = {}
    if proc.returncode != 0 or "error" in child or not child:
        detail = child.get("error") or (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise PlanError(f'Profiling "{bundle.path}" failed in the measuring process: {detail}')
    runtime = measure_footprint(manifest.requirements)
    onnx = measure_footprint(ONNX_REQUIREMENTS)
    fingerprint = manifest.data.model_dump() if manifest.data is not None else {}
    return {
        "schema_version": PROFILE_SCHEMA_VERSION,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "bundle": {
            "path": str(bundle.path),
            "name": manifest.name,
            "version": manifest.version,
            "family": manifest.family,
            "runtime": manifest.runtime,
            "task": manifest.task,
            "quantized": bool(manifest.runtime_options.get("quantized", False)),
            "labels": len(manifest.labels),
            "languages": list(manifest.languages),
            "language_counts": dict(fingerprint.get("languages") or {}),
            "rows": fingerprint.get("rows"),
        },
        "machine": {
            "cpu_count": os.cpu_count() or 1,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "threads": threads,
        },
        "texts": {"count": len(sample), "mean_chars": sum(map(len, sample)) / len(sample)},
        "size_bytes": bundle.size_bytes,
        "footprint": {"runtime": runtime, "onnx": onnx},
        "cold_start_s": child["first_prediction_at"] - started,
        "load_s": child["load_s"],
        "rss_after_load_bytes": child["rss_after_load_bytes"],
        "model_rss_bytes": child["model_rss_bytes"],
        "peak_rss_bytes": child["peak_rss_bytes"],
        "latency_ms": child["latency_ms"],
        "throughput": child["throughput"],
        "gpu": {"present": gpu_present(), "used": child["device"].startswith("cuda")},
    }


def save_profile(profile: dict[str, Any], path: Path | str) -> Path:
    """Write a profile as JSON (creating parent folders)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(profile, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def load_profile(path: Path | str) -> dict[str, Any]:
    """Read a profile JSON file written by ``nlpops profile --out``.

    Raises:
        PlanError: missing, not JSON, or of an unknown schema version.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PlanError(f'Profile file "{file}" does not exist. Run: nlpops profile REF --out {file}') from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise PlanError(f'Profile file "{file}" cannot be read as JSON: {exc}. Re-run nlpops profile.') from exc
    check_profile(data, str(file))
    return dict(data)


def check_profile(data: Any, source: str) -> None:
    """Raise PlanError unless ``data`` looks like a profile of a schema version this nlpops reads."""
    if not isinstance(data, dict) or data.get("schema_version") != PROFILE_SCHEMA_VERSION:
        got = data.get("schema_version") if isinstance(data, dict) else type(data).__name__
        raise PlanError(
            f'Profile "{source}" has schema version {got!r}; this nlpops reads {PROFILE_SCHEMA_VERSION}. '
            "Re-run: nlpops profile REF --out FILE"
        )
    missing = [k for k in ("bundle", "latency_ms", "throughput", "peak_rss_bytes", "footprint") if k not in data]
    if missing:
        raise PlanError(f'Profile "{source}" lacks {", ".join(missing)}. Re-run: nlpops profile REF --out FILE')


__all__ = [
    "DEFAULT_BATCH_SIZES",
    "PROFILE_SCHEMA_VERSION",
    "check_profile",
    "gpu_present",
    "load_profile",
    "profile_bundle",
    "save_profile",
]
