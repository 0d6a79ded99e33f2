"""Benchmark of ``nlpops batch``: rows/s with 1 and 2 workers against the in-process ceiling; peak RSS.

The model is the TF-IDF family trained on the real banking77 dataset; the input is banking77 texts repeated,
with ids, to ``--rows`` rows (default 200,000). The ceiling is ``predict_proba`` of the same bundle in this
process, batch by batch, on the same texts. Peak memory is the RSS summed over the whole process tree
(parent, fork server, workers), sampled every 20 ms. Results go to benchmarks/README.md (``## Batch``).

Run: .venv/bin/python benchmarks/batch.py [--rows 200000] [--no-readme]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from nlpops.checklist import NlpopsConfig
from nlpops.data import bundled_dataset, read_dataset
from nlpops.families import build_bundle
from nlpops.runtimes import load_predictor

MIB = 1 << 20
README = Path(__file__).parent / "README.md"
BEGIN, END = "<!-- batch-benchmark:begin -->", "<!-- batch-benchmark:end -->"


def _run_tree(args: list[str]) -> tuple[float, int, dict[str, object]]:
    """Wall time, peak tree RSS and the --json result of one ``nlpops batch`` subprocess."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    root = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        total = 0
        try:
            for member in [root, *root.children(recursive=True)]:
                try:
                    total += member.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
        except psutil.NoSuchProcess:
            break
        peak = max(peak, total)
        time.sleep(0.02)
    stdout, stderr = process.communicate()
    wall_s = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(stderr.decode())
    return wall_s, peak, json.loads(stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train = read_dataset(bundled_dataset("banking77", "train"))
        test = read_dataset(bundled_dataset("banking77", "test"))
        config = NlpopsConfig.model_validate({"name": "banking77"})
        bundle = build_bundle(config, train, test, work / "bundle", name="banking77")
        texts = train.texts
        source = work / "in.csv"
        with source.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "text"])
            for i in range(args.rows):
                writer.writerow([f"id-{i}", texts[i % len(texts)]])
        predictor = load_predictor(bundle.path)
        sample = [texts[i % len(texts)] for i in range(min(args.rows, 40_000))]
        started = time.perf_counter()
        for start in range(0, len(sample), args.batch_size):
            predictor.predict_proba(sample[start : start + args.batch_size])
        ceiling = len(sample) / (time.perf_counter() - started)
        results = {}
        for workers in (1, 2):
            out = work / f"out-{workers}.csv"
            cmd = [
                sys.executable, "-m", "nlpops", "batch", str(bundle.path), "--input", str(source), "--output", str(out),
                "--id-column", "id", "--workers", str(workers), "--batch-size", str(args.batch_size), "--json",
            ]  # fmt: skip
            wall_s, peak, result = _run_tree(cmd)
            results[workers] = {"wall_s": wall_s, "peak_mib": peak / MIB, "rows_per_s": float(result["rows_per_s"])}
            print(f"workers={workers}: {results[workers]}", flush=True)
    one, two = results[1]["rows_per_s"], results[2]["rows_per_s"]
    lines = [
        f"Input: {args.rows:,} rows (banking77 texts repeated, with ids), CSV; model: TF-IDF banking77 "
        f"({len(predictor.labels)} labels); batch size {args.batch_size}; measured {time.strftime('%Y-%m-%d')} "
        "on the 2-core development machine.",
        "",
        "| run | rows/s | vs 1 worker | vs ceiling x workers | wall s (incl. start-up) | peak RSS, process tree |",
        "|---|---:|---:|---:|---:|---:|",
        f"| in-process `predict_proba` (ceiling) | {ceiling:,.0f} | | | | |",
    ]
    for workers in (1, 2):
        r = results[workers]
        lines.append(
            f"| `nlpops batch --workers {workers}` | {r['rows_per_s']:,.0f} | {r['rows_per_s'] / one:.2f}x | "
            f"{r['rows_per_s'] / (ceiling * workers):.0%} | {r['wall_s']:.1f} | {r['peak_mib']:.0f} MiB |"
        )
    lines += [
        "",
        f"Goal: 2 workers >= 1.6x one worker (measured {two / one:.2f}x) and >= 70% of ceiling x 2 "
        f"(measured {two / (2 * ceiling):.0%}). rows/s is the run's own figure: rows over the time from "
        "starting the workers to the joined output (worker start-up included); wall time adds interpreter start-up "
        "and bundle verification. Peak RSS sums "
        "the processes' RSS, so pages shared between the fork server and its workers are counted twice.",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_readme:
        _write_readme(table)


def _write_readme(table: str) -> None:
    text = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{table}\n{END}"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n## Batch\n\n`.venv/bin/python benchmarks/batch.py`\n\n" + block + "\n"
    README.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
