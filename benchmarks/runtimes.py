"""Runtime benchmark: the MiniLM classifier from its ONNX bundles (fp32 and int8), in process on one core.

Run on one core for stable ratios::

    taskset -c 0 .venv/bin/python benchmarks/runtimes.py --work /tmp/nlpops-bench

Builds (once, cached in --work) a MiniLM + logistic-regression bundle on a banking77 subset, exports it to
ONNX fp32 and int8, then measures throughput at batch 1/8/32/64 with and without length-sorted batching,
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


def throughput(predictor: OnnxPredictor, texts: list[str], batch: int, repeats: int) -> float:
    """Median texts/s over ``repeats`` passes through ``texts`` in calls of ``batch`` texts."""
    predictor.predict_proba(texts[:batch])
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(texts), batch):
            predictor.predict_proba(texts[i : i + batch])
        rates.append(len(texts) / (time.perf_counter() - start))
    return statistics.median(rates)


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
    parser.add_argument("--texts", type=int, default=256, help="test texts per pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    built = bundles(args.work, args.train_rows)
    test = read_dataset(bundled_dataset("banking77", "test"))
    texts = test.texts[:: max(1, len(test) // args.texts)][: args.texts]
    results: dict[str, Any] = {"texts": len(texts), "threads": args.threads, "throughput_texts_per_s": {}}
    for kind in ("fp32", "int8"):
        for sort in (True, False):
            predictor = OnnxPredictor(built[kind], intra_op_threads=args.threads, sort_by_length=sort)
            predictor.batch_size = 64
            key = f"{kind}{'' if sort else '-unsorted'}"
            results["throughput_texts_per_s"][key] = {
                str(b): round(throughput(predictor, texts, b, args.repeats), 1) for b in BATCHES
            }
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
