"""Measured facts about a bundle on the machine at hand (``nlpops profile``).

Everything is measured, nothing derived with assumed factors: for every runtime the bundle can be served
with (its own, its ONNX export, its int8 export, the GPU when this machine has one; the exports are written
to a temporary folder with the parity check of ``nlpops export``), at 1, 2 and 4 math threads (as many as
this machine has CPUs), in a fresh interpreter each: cold start, memory, single-text latency and throughput
per batch size, each the median of repeated rounds with its spread. The installed size of each runtime's
packages and of the service stack is read from package metadata. The machine's load during the measurement
is recorded, and ``reliability`` says whether the figures can be trusted. A model set is also measured one
language model at a time, for per-language sizing. The layout is in docs/advisor.md
(``PROFILE_SCHEMA_VERSION``).
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nlpops.bundle import Bundle, load_bundle
from nlpops.errors import PlanError
from nlpops.languages.scoring import strategy_figures
from nlpops.profile.candidates import EXCLUDED, MEASURED, OWN, RUNTIME_OPTIONS, Candidate, runtime_candidates
from nlpops.profile.estimate import estimate_profile
from nlpops.profile.files import PROFILE_SCHEMA_VERSION, check_profile, load_profile, save_profile
from nlpops.profile.footprint import SERVICE_PACKAGES, image_bytes, measure_footprint
from nlpops.profile.measure import Job, run_measurement
from nlpops.profile.reliability import MAX_BACKGROUND_SHARE, MAX_SPREAD, assess
from nlpops.progress import Progress, ProgressLike, as_progress

DEFAULT_BATCH_SIZES = (1, 8, 32, 128)
DEFAULT_THREADS = (1, 2, 4)
ONNX_REQUIREMENTS = ("onnxruntime",)
_ROUTING_FILE = "routing.json"


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


def _measure_runtime(
    candidate: Candidate,
    texts: list[str],
    threads: Sequence[int],
    settings: dict[str, Any],
    service: dict[str, Any],
    report: Progress | None = None,
) -> dict[str, Any]:
    """One runtime's entry: its size and footprint, and its figures at each thread count."""
    if candidate.status != MEASURED or candidate.bundle is None:
        return {"status": candidate.status, "reason": candidate.reason}
    bundle = candidate.bundle
    footprint = measure_footprint(bundle.manifest.requirements)
    entry: dict[str, Any] = {
        "status": MEASURED,
        "bundle_runtime": bundle.manifest.runtime,
        "quantized": bool(bundle.manifest.runtime_options.get("quantized")),
        "device": candidate.device,
        "size_bytes": bundle.size_bytes,
        "footprint": footprint,
        "image_bytes": image_bytes(service, footprint) + bundle.size_bytes,
        "threads": {},
    }
    if candidate.export:
        entry["export"] = candidate.export
    counts = [1] if candidate.device != "cpu" else list(threads)
    for n in counts:
        job = Job(
            bundle.path,
            texts,
            settings["batch_sizes"],
            settings["budget_s"],
            settings["repeats"],
            n,
            candidate.device,
            model_memory=n == counts[0],
        )
        if report is not None:
            report.advance(0, f"{candidate.option}, {n} thread(s)")
        result = run_measurement(job, settings["timeout_s"])
        if report is not None:
            report.advance(1)
        if candidate.device != "cpu" and not str(result["device"]).startswith(candidate.device):
            reason = f"the model ran on {result['device']} although {candidate.device} was asked for"
            return {"status": EXCLUDED, "reason": reason}
        if n == counts[0]:
            for key in ("cold_start_s", "load_s", "rss_after_load_bytes", "model_rss_bytes"):
                entry[key] = result[key]
        entry["threads"][str(n)] = {
            key: result[key] for key in ("latency_ms", "throughput", "peak_rss_bytes", "machine_load", "cold_start_s")
        }
    entry["peak_rss_bytes"] = max(t["peak_rss_bytes"] for t in entry["threads"].values())
    return entry


def _language_models(bundle: Bundle) -> dict[str, Bundle]:
    """The per-language models of a model set (runtime router), by language."""
    import json

    if bundle.manifest.runtime != "router":
        return {}
    routing = json.loads((bundle.path / _ROUTING_FILE).read_text(encoding="utf-8"))
    return {str(lang): load_bundle(bundle.path / str(route)) for lang, route in (routing.get("routes") or {}).items()}


def _thread_counts(requested: Sequence[int] | int, cpus: int) -> tuple[list[int], dict[str, str]]:
    wanted = [requested] if isinstance(requested, int) else list(requested)
    if not wanted or any(n < 1 for n in wanted):
        raise PlanError(f"Thread counts must be >= 1, got {wanted}.")
    measured = sorted({n for n in wanted if n <= cpus}) or [min(wanted)]
    skipped = {str(n): f"this machine has {cpus} CPU(s)" for n in sorted(set(wanted) - set(measured))}
    return measured, skipped


def profile_bundle(
    bundle_dir: Path | str,
    *,
    texts: Sequence[str] | None = None,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    budget_s: float = 2.0,
    threads: Sequence[int] | int = DEFAULT_THREADS,
    repeats: int = 3,
    runtimes: Sequence[str] = RUNTIME_OPTIONS,
    languages: bool = True,
    strict: bool = False,
    max_spread: float = MAX_SPREAD,
    max_background_share: float = MAX_BACKGROUND_SHARE,
    timeout_s: float = 600.0,
    progress: ProgressLike = None,
) -> dict[str, Any]:
    """Measure a bundle, its candidate runtimes and (for a model set) each language's model.

    Args:
        bundle_dir: the bundle directory.
        texts: texts to predict; default: the bundle's reference texts (``manifest.reference["texts"]``).
        batch_sizes: batch sizes for the throughput measurement.
        budget_s: about how long each measurement (one runtime at one thread count) runs.
        threads: math-thread counts to measure (counts above this machine's CPUs are recorded as unmeasured).
        repeats: rounds per measurement; figures are their medians.
        runtimes: runtime options to measure (``native-cpu``, ``onnx-cpu``, ``onnx-int8-cpu``, ``gpu``; ``own``:
            the bundle's own runtime, whichever it is).
        languages: also measure each language's model of a model set.
        strict: refuse (PlanError) when the figures are unreliable.
        max_spread: largest spread between rounds before the figures count as unreliable.
        max_background_share: largest share of the CPUs other processes may use meanwhile.
        timeout_s: each measuring process is killed after this long.
        progress: counts the measurements (one per runtime and thread count, and per language model).

    Returns:
        The profile (see docs/advisor.md for the fields).

    Raises:
        BundleError: the bundle fails verification.
        PlanError: no texts, a bad setting, the measuring process failed, or ``strict`` and unreliable figures.
    """
    bundle = load_bundle(bundle_dir)
    manifest = bundle.manifest
    sample = _texts_for(manifest.reference.get("texts"), texts, bundle.path)
    if any(size < 1 for size in batch_sizes) or not batch_sizes:
        raise PlanError(f"Batch sizes must be >= 1, got {list(batch_sizes)}.")
    unknown = [r for r in runtimes if r not in (*RUNTIME_OPTIONS, OWN)]
    if unknown or not runtimes:
        choices = ", ".join((*RUNTIME_OPTIONS, OWN))
        raise PlanError(f"Unknown runtime option(s) {unknown or '(none)'}; choose from {choices}.")
    cpus = os.cpu_count() or 1
    counts, skipped = _thread_counts(threads, cpus)
    settings = {
        "batch_sizes": list(batch_sizes),
        "budget_s": budget_s,
        "repeats": max(1, repeats),
        "timeout_s": timeout_s,
    }
    report = as_progress(progress)
    report.step("preparing the runtimes to measure (exports)")
    service = measure_footprint(SERVICE_PACKAGES)
    present = gpu_present()
    models = _language_models(bundle) if languages else {}
    with tempfile.TemporaryDirectory(prefix="nlpops-profile-") as tmp:
        candidates = runtime_candidates(bundle, Path(tmp), gpu_present=present, wanted=tuple(runtimes))
        jobs = sum(len(counts) if c.device == "cpu" else 1 for c in candidates if c.status == MEASURED)
        report.step(f"measuring {bundle.manifest.name}", total=jobs + len(models) * len(counts))
        measured = {c.option: _measure_runtime(c, sample, counts, settings, service, report) for c in candidates}
    per_language: dict[str, Any] = {}
    if languages:
        for lang, model in models.items():
            own_texts = _texts_for(model.manifest.reference.get("texts"), None, model.path)
            native = Candidate("native-cpu", model, MEASURED)
            per_language[lang] = {
                "name": model.manifest.name,
                "runtimes": {"native-cpu": _measure_runtime(native, own_texts, counts, settings, service, report)},
            }
    own = next((e for e in measured.values() if e.get("status") == MEASURED and e["device"] == "cpu"), None)
    fingerprint = manifest.data.model_dump() if manifest.data is not None else {}
    onnx_entry = next((e for k, e in measured.items() if k == "onnx-cpu" and e.get("status") == MEASURED), None)
    profile: dict[str, Any] = {
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
            # per-language vs multilingual as served, when measured (a model set, or --strategy auto)
            "strategy_figures": strategy_figures(manifest.metrics),
            "rows": fingerprint.get("rows"),
            **({"dim": int(manifest.runtime_options.get("dim", 0))} if manifest.task == "embedding" else {}),
        },
        "machine": {
            "cpu_count": cpus,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "threads": counts,
            "threads_unmeasured": skipped,
            "gpu_present": present,
        },
        "settings": {**settings, "threads": counts},
        "texts": {"count": len(sample), "mean_chars": sum(map(len, sample)) / len(sample)},
        "size_bytes": bundle.size_bytes,
        "footprint": {
            "runtime": measure_footprint(manifest.requirements),
            "onnx": onnx_entry["footprint"] if onnx_entry else measure_footprint(ONNX_REQUIREMENTS),
            "service": service,
        },
        "runtimes": measured,
        "languages": per_language,
        "gpu": {"present": present, "used": measured.get("gpu", {}).get("status") == MEASURED},
    }
    if own is not None:  # the bundle's own runtime at one thread, where older readers look for it
        first = own["threads"][str(counts[0])]
        profile.update(
            {
                "cold_start_s": own["cold_start_s"],
                "load_s": own["load_s"],
                "rss_after_load_bytes": own["rss_after_load_bytes"],
                "model_rss_bytes": own["model_rss_bytes"],
                "peak_rss_bytes": own["peak_rss_bytes"],
                "latency_ms": first["latency_ms"],
                "throughput": first["throughput"],
            }
        )
    profile["reliability"] = assess(profile, max_spread, max_background_share)
    if strict and not profile["reliability"]["reliable"]:
        raise PlanError(
            "The measurements are unreliable: "
            + "; ".join(profile["reliability"]["problems"])
            + ". Re-run on a quiet machine, or without --strict to keep them with a warning."
        )
    return profile


__all__ = [
    "DEFAULT_BATCH_SIZES",
    "DEFAULT_THREADS",
    "OWN",
    "PROFILE_SCHEMA_VERSION",
    "RUNTIME_OPTIONS",
    "check_profile",
    "estimate_profile",
    "gpu_present",
    "load_profile",
    "profile_bundle",
    "save_profile",
]
