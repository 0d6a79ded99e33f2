"""The measuring side of ``nlpops profile``, run in a fresh interpreter: ``python -m nlpops.profile.child``.

It loads the bundle, makes the first prediction (the end of the cold start), then measures single-text
latency and throughput per batch size on the given texts, ``repeats`` times in rounds, and prints one JSON
object on stdout: each figure is the median over the rounds, with its spread (max - min) / median beside it,
so one round slowed by something else on the machine neither decides a figure nor goes unnoticed. The math
threads are set by the parent through the environment before any library is imported.
Errors are printed as ``{"error": message}`` with exit code 1; the parent turns them into nlpops errors.
"""

from __future__ import annotations

import gc
import json
import resource
import statistics
import sys
import time
from typing import Any

import numpy as np


def _percentiles_ms(samples_s: list[float]) -> dict[str, float]:
    values = np.asarray(samples_s, dtype=np.float64) * 1000.0
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(values.mean())}


def spread(values: list[float]) -> float:
    """``(max - min) / median`` of the rounds' values; 0 for a single round."""
    if len(values) < 2:
        return 0.0
    middle = statistics.median(values)
    return float((max(values) - min(values)) / middle) if middle > 0 else 0.0


def combine(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The median of each statistic over the rounds."""
    return {key: float(statistics.median(r[key] for r in rounds)) for key in rounds[0]}


def _rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _peak_rss_bytes() -> int:
    """This process's peak resident memory. VmHWM belongs to the process image, so unlike ``ru_maxrss`` it does
    not inherit the high-water mark of the parent that started this interpreter."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _latency_round(predictor: Any, texts: list[str], budget_s: float, start: int) -> list[float]:
    from nlpops.runtimes import predict_output  # imported by measure() already, after the cold-start clock

    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    i = start
    while (time.perf_counter() < deadline or len(samples) < 10) and len(samples) < 20000:
        text = texts[i % len(texts)]
        t0 = time.perf_counter()
        predict_output(predictor, [text])
        samples.append(time.perf_counter() - t0)
        i += 1
    return samples


def _throughput_round(predictor: Any, texts: list[str], size: int, budget_s: float) -> tuple[float, list[float]]:
    from nlpops.runtimes import predict_output

    batch_times: list[float] = []
    rows = 0
    deadline = time.perf_counter() + budget_s
    while time.perf_counter() < deadline or len(batch_times) < 3:
        batch = [texts[(rows + k) % len(texts)] for k in range(size)]
        t0 = time.perf_counter()
        predict_output(predictor, batch)
        batch_times.append(time.perf_counter() - t0)
        rows += size
    busy_s = sum(batch_times)
    return (rows / busy_s if busy_s > 0 else 0.0), batch_times


def measure(
    bundle_dir: str,
    texts: list[str],
    batch_sizes: list[int],
    budget_s: float,
    repeats: int = 3,
    model_memory: bool = True,
) -> dict[str, Any]:
    """Load, predict once, then measure latency and throughput in ``repeats`` rounds within about ``budget_s``.

    Args:
        bundle_dir: the bundle to load.
        texts: what to predict.
        batch_sizes: batch sizes of the throughput measurement.
        budget_s: about how long the measuring loops run, in total.
        repeats: rounds; each figure is the median over them.
        model_memory: also load a second copy to measure the model's own memory.
    """
    from nlpops.runtimes import load_predictor, predict_output

    started = time.time()
    predictor = load_predictor(bundle_dir)
    loaded = time.time()
    predict_output(predictor, texts[:1])
    first = time.time()
    rss_after_load = _rss_bytes()

    for size in batch_sizes:  # warm every batch shape once, so the first round does not pay for it
        predict_output(predictor, [texts[k % len(texts)] for k in range(size)])
    repeats = max(1, repeats)
    latency_rounds: list[dict[str, float]] = []
    per_size: dict[int, list[tuple[float, list[float]]]] = {size: [] for size in batch_sizes}
    samples = 0
    latency_s = budget_s * 0.4 / repeats
    size_s = budget_s * 0.6 / repeats / max(1, len(batch_sizes))
    for r in range(repeats):
        round_samples = _latency_round(predictor, texts, latency_s, r * 7919)
        samples += len(round_samples)
        latency_rounds.append(_percentiles_ms(round_samples))
        for size in batch_sizes:
            per_size[size].append(_throughput_round(predictor, texts, size, size_s))
    # An entity model's cost grows with the tokens of a text: its rows also say tokens/s (its tokenizer's tokens).
    tokens_per_text = statistics.fmean(predictor.text_lengths(texts)) if predictor.task == "entities" else None
    throughput = []
    for size in batch_sizes:
        rates = [rate for rate, _ in per_size[size]]
        texts_per_s = float(statistics.median(rates))
        row: dict[str, Any] = {
            "batch_size": size,
            "texts_per_s": texts_per_s,
            "spread": spread(rates),
            "batches": sum(len(times) for _, times in per_size[size]),
            "batch_latency_ms": combine([_percentiles_ms(times) for _, times in per_size[size]]),
        }
        if tokens_per_text is not None:
            row["tokens_per_text"] = tokens_per_text
            row["tokens_per_s"] = texts_per_s * tokens_per_text
        throughput.append(row)
    device = str(getattr(predictor, "device", "cpu"))
    peak_rss = _peak_rss_bytes()  # one model serving: read before a second copy is loaded below
    model_rss = None
    if model_memory:
        # The model's own memory: load a second copy once every library is imported, and measure the growth.
        gc.collect()
        before = _rss_bytes()
        second = load_predictor(bundle_dir)
        predict_output(second, texts[:1])
        model_rss = max(0, _rss_bytes() - before)
        del second
        gc.collect()
    return {
        "started_at": started,
        "load_s": loaded - started,
        "first_prediction_at": first,
        "rss_after_load_bytes": rss_after_load,
        "model_rss_bytes": model_rss,
        "peak_rss_bytes": peak_rss,
        "latency_ms": {
            **combine(latency_rounds),
            "samples": samples,
            "rounds": repeats,
            "spread": spread([r["p50"] for r in latency_rounds]),
        },
        "throughput": throughput,
        "device": device,
    }


def main() -> int:
    """Read the job from stdin (JSON), measure, print the result JSON on stdout."""
    from nlpops.errors import NlpopsError

    job = json.loads(sys.stdin.read())
    try:
        result = measure(
            job["bundle"],
            job["texts"],
            job["batch_sizes"],
            job["budget_s"],
            int(job.get("repeats", 3)),
            bool(job.get("model_memory", True)),
        )
    except NlpopsError as exc:
        sys.stdout.write(json.dumps({"error": str(exc)}))
        return 1
    sys.stdout.write(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
