"""The measuring side of ``nlpops profile``, run in a fresh interpreter: ``python -m nlpops.profile.child``.

It loads the bundle, makes the first prediction (the end of the cold start), then measures single-text
latency and throughput per batch size on the given texts, and prints one JSON object on stdout.
Errors are printed as ``{"error": message}`` with exit code 1; the parent turns them into nlpops errors.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time
from typing import Any

import numpy as np


def _percentiles_ms(samples_s: list[float]) -> dict[str, float]:
    values = np.asarray(samples_s, dtype=np.float64) * 1000.0
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(values.mean())}


def _rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def measure(bundle_dir: str, texts: list[str], batch_sizes: list[int], budget_s: float) -> dict[str, Any]:
    """Load, predict once, then measure latency and throughput within about ``budget_s`` seconds."""
    from nlpops.runtimes import load_predictor, predict_output

    started = time.time()
    predictor = load_predictor(bundle_dir)
    loaded = time.time()
    predict_output(predictor, texts[:1])
    first = time.time()
    rss_after_load = _rss_bytes()
    # The model's own memory: load a second copy once every library is imported, and measure the growth.
    gc.collect()
    second = load_predictor(bundle_dir)
    predict_output(second, texts[:1])
    model_rss = max(0, _rss_bytes() - rss_after_load)
    del second
    gc.collect()

    latency_budget_s = budget_s * 0.4
    samples: list[float] = []
    deadline = time.perf_counter() + latency_budget_s
    i = 0
    while (time.perf_counter() < deadline or len(samples) < 20) and len(samples) < 20000:
        text = texts[i % len(texts)]
        t0 = time.perf_counter()
        predict_output(predictor, [text])
        samples.append(time.perf_counter() - t0)
        i += 1

    throughput = []
    per_size_s = budget_s * 0.6 / max(1, len(batch_sizes))
    for size in batch_sizes:
        batch_times: list[float] = []
        rows = 0
        deadline = time.perf_counter() + per_size_s
        while time.perf_counter() < deadline or len(batch_times) < 3:
            batch = [texts[(rows + k) % len(texts)] for k in range(size)]
            t0 = time.perf_counter()
            predict_output(predictor, batch)
            batch_times.append(time.perf_counter() - t0)
            rows += size
        busy_s = sum(batch_times)
        throughput.append(
            {
                "batch_size": size,
                "texts_per_s": rows / busy_s if busy_s > 0 else 0.0,
                "batches": len(batch_times),
                "batch_latency_ms": _percentiles_ms(batch_times),
            }
        )
    device = str(getattr(predictor, "device", "cpu"))
    return {
        "started_at": started,
        "load_s": loaded - started,
        "first_prediction_at": first,
        "rss_after_load_bytes": rss_after_load,
        "model_rss_bytes": model_rss,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "latency_ms": {**_percentiles_ms(samples), "samples": len(samples)},
        "throughput": throughput,
        "device": device,
    }


def main() -> int:
    """Read the job from stdin (JSON), measure, print the result JSON on stdout."""
    from nlpops.errors import NlpopsError

    job = json.loads(sys.stdin.read())
    try:
        result = measure(job["bundle"], job["texts"], job["batch_sizes"], job["budget_s"])
    except NlpopsError as exc:
        sys.stdout.write(json.dumps({"error": str(exc)}))
        return 1
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
