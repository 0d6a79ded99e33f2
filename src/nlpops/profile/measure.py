"""One measurement: a fresh measuring process for one bundle at one thread count on one device, and how busy
the rest of the machine was meanwhile.

The machine's load is measured, not guessed: the CPU time the whole machine spent during the measurement
(``psutil.cpu_times``) minus what the measuring process itself used (``RUSAGE_CHILDREN``) is what other
processes took, in CPUs; ``os.getloadavg`` is recorded beside it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from nlpops.errors import PlanError

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
_ONNX_THREADS_VAR = "NLPOPS_ONNX__INTRA_OP_THREADS"
_TORCH_DEVICE_VAR = "NLPOPS_TORCH__DEVICE"


@dataclass(frozen=True)
class Job:
    """What one measuring process measures."""

    bundle: Path
    texts: Sequence[str]
    batch_sizes: Sequence[int]
    budget_s: float
    repeats: int
    threads: int
    device: str = "cpu"
    model_memory: bool = True


def _busy_cpu_s() -> float:
    times = psutil.cpu_times()
    busy = ("user", "nice", "system", "irq", "softirq", "steal")  # guest time is already counted in user
    return float(sum(getattr(times, name, 0.0) for name in busy))


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return float(usage.ru_utime + usage.ru_stime)


def _environment(job: Job) -> dict[str, str]:
    env = dict(os.environ)
    env.update({name: str(job.threads) for name in _THREAD_VARS})
    env[_ONNX_THREADS_VAR] = str(job.threads)
    env[_TORCH_DEVICE_VAR] = job.device
    return env


def run_measurement(job: Job, timeout_s: float) -> dict[str, Any]:
    """Measure ``job`` in a fresh interpreter.

    Returns:
        The measuring process's figures (see :mod:`nlpops.profile.child`) plus ``threads``, ``device``,
        ``cold_start_s`` and ``machine_load`` (``background_cpus``: CPUs other processes used meanwhile;
        ``loadavg``: the 1, 5 and 15 minute load averages before it started).

    Raises:
        PlanError: the measuring process failed or timed out.
    """
    payload = {
        "bundle": str(job.bundle),
        "texts": list(job.texts),
        "batch_sizes": list(job.batch_sizes),
        "budget_s": job.budget_s,
        "repeats": job.repeats,
        "model_memory": job.model_memory,
    }
    loadavg = list(os.getloadavg())
    busy0, own0, wall0 = _busy_cpu_s(), _children_cpu_s(), time.monotonic()
    started = time.time()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "nlpops.profile.child"],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            env=_environment(job),
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PlanError(
            f'Profiling "{job.bundle}" took longer than {timeout_s:.0f} s and was stopped. Lower --budget-s.'
        ) from exc
    wall = max(time.monotonic() - wall0, 1e-6)
    others = max(0.0, (_busy_cpu_s() - busy0) - (_children_cpu_s() - own0))
    try:
        child = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError:
        child = {}
    if proc.returncode != 0 or "error" in child or not child:
        detail = child.get("error") or (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise PlanError(f'Profiling "{job.bundle}" failed in the measuring process: {detail}')
    child["threads"] = job.threads
    child["cold_start_s"] = child["first_prediction_at"] - started
    child["machine_load"] = {"background_cpus": round(others / wall, 3), "loadavg": [round(x, 2) for x in loadavg]}
    return dict(child)


__all__ = ["Job", "run_measurement"]
