"""Runtime benchmark: the MiniLM classifier from its ONNX bundles (fp32 and int8), in process on one core.

Run on one core for stable ratios::

    taskset -c 0 .venv/bin/python benchmarks/runtimes.py --work /tmp/nlpops-bench

Builds (once, cached in --work) a MiniLM + logistic-regression bundle on a banking77 subset, exports it to
ONNX fp32 and int8, then measures throughput of one ``predict_proba`` call over the test texts with internal
batches of 1/8/32/64, with and without length-sorted batching (configurations interleaved),
the int8/fp32 speed ratio, the serve-path install footprint (distributions actually imported to load and
predict), and cold start (a fresh process importing, loading and answering one text). Prints JSON.
Figures are ratios measured in the same run; absolute numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

from nlpops.bundle import Bundle, load_bundle
from nlpops.checklist import NlpopsConfig
from nlpops.data import bundled_dataset, read_dataset
from nlpops.export import export_bundle
from nlpops.export.measure import installed_size_bytes
from nlpops.families import build_bundle
from nlpops.runtimes.onnx import OnnxPredictor

BATCHES = (1, 8, 32, 64)


def bundles(work: Path, train_rows: int) -> dict[str, Bundle]:
    """The torch, ONNX fp32 and ONNX int8 bundles (built once)."""
    paths = {"torch": work / "minilm-torch", "fp32": work / "minilm-onnx", "int8": work / "minilm-onnx-int8"}
    if not paths["torch"].exists():
        train = read_dataset(bundled_dataset("banking77", "train"))
        train = train.subset(range(0, len(train), max(1, len(train) // train_rows)))
        config = NlpopsConfig.model_validate({"name": "minilm", "model": {"family": "transformer"}})
        build_bundle(config, train, None, paths["torch"], name="minilm")
    if not paths["fp32"].exists():
        export_bundle(paths["torch"], paths["fp32"])
    if not paths["int8"].exists():
        export_bundle(paths["fp32"], paths["int8"], quantize="int8")
    return {k: load_bundle(v) for k, v in paths.items()}


def one_pass(predictor: OnnxPredictor, texts: list[str], batch: int) -> float:
    """Texts/s of one ``predict_proba`` call over all ``texts``, batched internally by ``batch`` texts."""
    predictor.batch_size = batch
    start = time.perf_counter()
    predictor.predict_proba(texts)
    return len(texts) / (time.perf_counter() - start)


def throughputs(predictors: dict[str, OnnxPredictor], texts: list[str], repeats: int) -> dict[str, dict[str, float]]:
    """Median texts/s per predictor and batch size; configurations are interleaved so load noise hits all alike."""
    rates: dict[str, dict[str, list[float]]] = {k: {str(b): [] for b in BATCHES} for k in predictors}
    for predictor in predictors.values():
        predictor.predict_proba(texts[:8])
    for _ in range(repeats):
        for batch in BATCHES:
            for key, predictor in predictors.items():
                rates[key][str(batch)].append(one_pass(predictor, texts, batch))
    return {k: {b: round(statistics.median(v), 1) for b, v in per.items()} for k, per in rates.items()}


def serve_path(bundle: Bundle) -> dict[str, Any]:
    """Cold start and the distributions a fresh process imports to load ``bundle`` and predict."""
    code = (
        "import json, sys, time; t = time.perf_counter()\n"
        "from nlpops.runtimes import load_predictor\n"
        f"p = load_predictor({str(bundle.path)!r}); p.predict(['where is my card'])\n"
        "print(json.dumps([time.perf_counter() - t, sorted({m.split('.')[0] for m in sys.modules})]))"
    )
    runs = []
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    cold_s = statistics.median(r[0] for r in runs)
    mapping = packages_distributions()
    dists = sorted({d for m in runs[0][1] for d in mapping.get(m, [])} - {"nlpops"})
    return {
        "cold_start_s": round(cold_s, 3),
        "imported_distributions": dists,
        "footprint_mb": round(installed_size_bytes(dists) / 1e6, 1),
        "heavy_imported": [m for m in ("torch", "transformers", "sklearn", "spacy") if m in runs[0][1]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/nlpops-bench"))
    parser.add_argument("--train-rows", type=int, default=2000)
    parser.add_argument("--texts", type=int, default=128, help="test texts per pass (one predict_proba call)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    built = bundles(args.work, args.train_rows)
    test = read_dataset(bundled_dataset("banking77", "test"))
    texts = test.texts[:: max(1, len(test) // args.texts)][: args.texts]
    results: dict[str, Any] = {"texts": len(texts), "threads": args.threads}
    predictors = {
        f"{kind}{'' if sort else '-unsorted'}": OnnxPredictor(
            built[kind], intra_op_threads=args.threads, sort_by_length=sort
        )
        for kind in ("fp32", "int8")
        for sort in (True, False)
    }
    results["throughput_texts_per_s"] = throughputs(predictors, texts, args.repeats)
    rates = results["throughput_texts_per_s"]
    results["int8_over_fp32_batch32"] = round(rates["int8"]["32"] / rates["fp32"]["32"], 3)
    best = "int8" if results["int8_over_fp32_batch32"] > 1 else "fp32"
    results["fastest"] = best
    results["sorted_over_unsorted_batch64"] = round(rates[best]["64"] / rates[f"{best}-unsorted"]["64"], 3)
    results["bundle_size_mb"] = {k: round(b.size_bytes / 1e6, 1) for k, b in built.items()}
    results["serve_path"] = {k: serve_path(built[k]) for k in ("fp32", "int8")}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
