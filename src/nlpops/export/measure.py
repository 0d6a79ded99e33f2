"""Before/after figures for ``nlpops export``: size, runtime footprint, cold load, latency, throughput, quality.

Runtime footprint is the installed size of the packages a bundle's runtime needs (its manifest
``requirements`` and everything they require), summed from ``importlib.metadata`` file lists. Load time
is measured in a fresh Python process (imports included), so it is the cold start a service pays.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from nlpops.bundle import Bundle
from nlpops.data import Dataset
from nlpops.runtimes import load_predictor, predict_output

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class BundleFigures:
    """Measured facts about one bundle on this machine (None: not measured)."""

    size_bytes: int
    footprint_bytes: int
    packages: list[str]
    load_s: float | None
    p50_batch1_ms: float | None
    throughput_batch32: float | None
    accuracy: float | None
    macro_f1: float | None


def _requirement_name(requirement: str) -> str | None:
    match = _NAME.match(requirement)
    return match.group(1) if match else None


def package_closure(names: list[str]) -> list[str]:
    """``names`` and every installed distribution they require (extras and non-matching markers skipped)."""
    seen: dict[str, None] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen[key] = None
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            if ";" in req:
                from packaging.markers import Marker

                if not Marker(req.split(";", 1)[1]).evaluate():
                    continue
            child = _requirement_name(req)
            if child:
                todo.append(child)
    return sorted(seen)


def installed_size_bytes(names: list[str]) -> int:
    """Sum of the sizes of the files the distributions ``names`` installed."""
    total = 0
    for name in names:
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        for file in dist.files or []:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                total += path.stat().st_size
    return total


def cold_load_s(bundle: Bundle) -> float:
    """Seconds for a fresh Python process to import nlpops, load ``bundle`` and answer one text."""
    code = (
        "import sys, time; t = time.perf_counter()\n"
        "from nlpops.runtimes import load_predictor, predict_output\n"
        f"p = load_predictor({str(bundle.path)!r}); predict_output(p, ['warm up'])\n"
        "print(time.perf_counter() - t)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        return float("nan")
    return float(done.stdout.strip().splitlines()[-1])


def measure_bundle(
    bundle: Bundle, texts: list[str], test: Dataset | None = None, *, repeats: int = 30
) -> BundleFigures:
    """Measure ``bundle``: size, footprint, cold load, p50 at batch 1, texts/s at batch 32, quality on ``test``."""
    names = [n for n in (_requirement_name(r) for r in bundle.manifest.requirements) if n]
    packages = package_closure(names)
    predictor = load_predictor(bundle)
    sample = (texts * (1 + 64 // max(len(texts), 1)))[:64] or ["example"]
    predict_output(predictor, sample[:4])
    latencies = []
    for i in range(repeats):
        start = time.perf_counter()
        predict_output(predictor, [sample[i % len(sample)]])
        latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    for offset in (0, 32):
        predict_output(predictor, sample[offset : offset + 32])
    throughput = 64 / (time.perf_counter() - start)
    accuracy = macro_f1 = None
    if test is not None and len(test):
        from nlpops.metrics import task_report

        output = predict_output(predictor, test.texts)
        report = task_report(predictor.task, test.answers, output, predictor.labels, thresholds=predictor.thresholds)
        accuracy, macro_f1 = report.get("accuracy"), report.get("macro_f1")
    return BundleFigures(
        size_bytes=bundle.size_bytes,
        footprint_bytes=installed_size_bytes(packages),
        packages=packages,
        load_s=cold_load_s(bundle),
        p50_batch1_ms=statistics.median(latencies) * 1000,
        throughput_batch32=throughput,
        accuracy=accuracy,
        macro_f1=macro_f1,
    )


__all__ = ["BundleFigures", "cold_load_s", "installed_size_bytes", "measure_bundle", "package_closure"]
