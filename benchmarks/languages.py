"""Compare language detectors on the bundled multilingual test sets: accuracy, speed, memory, install size.

Run: ``.venv/bin/python benchmarks/languages.py [--rows-per-lang N]``. Prints one Markdown table (the one in
docs/languages.md). Each detector runs in a fresh subprocess so its memory is measured on its own.
Candidates: py3langid (naive Bayes over byte n-grams, model in the wheel) and lingua-language-detector
(n-gram models in the wheel, Rust core), each over all of its languages (what a service sees) and
restricted to the dataset's languages.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from collections import defaultdict
from importlib.metadata import distribution
from pathlib import Path

DATASETS = Path(__file__).resolve().parents[1] / "src" / "nlpops" / "datasets"
CANDIDATES = ["py3langid", "py3langid-restricted", "lingua", "lingua-restricted", "lingua-low", "nlpops"]
PACKAGE = {"py3langid": "py3langid", "lingua": "lingua-language-detector", "nlpops": "py3langid"}


def read_rows(name: str, rows_per_lang: int) -> list[tuple[str, str]]:
    per_lang: dict[str, list[tuple[str, str]]] = defaultdict(list)
    with (DATASETS / name / "test.csv").open(encoding="utf-8", newline="") as fh:
        for record in csv.DictReader(fh):
            if len(per_lang[record["lang"]]) < rows_per_lang:
                per_lang[record["lang"]].append((record["text"], record["lang"]))
    return [row for rows in per_lang.values() for row in rows]


def install_size_mb(package: str) -> float:
    dist = distribution(package)
    return sum(Path(str(dist.locate_file(f))).stat().st_size for f in dist.files or []) / 1e6


def build(candidate: str, langs: list[str]):
    if candidate.startswith("py3langid"):
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        if candidate.endswith("restricted"):
            identifier.set_languages(langs)
        return lambda texts: [identifier.classify(t)[0] for t in texts]
    if candidate == "nlpops":
        from nlpops.languages import LanguageDetector

        detector = LanguageDetector(langs)  # as a model set uses it: the data's languages
        return detector.detect_many
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    if candidate.endswith("restricted"):
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(*[getattr(IsoCode639_1, c.upper()) for c in langs])
    else:
        builder = LanguageDetectorBuilder.from_all_languages()
    if candidate.endswith("low"):
        builder = builder.with_low_accuracy_mode()
    detector = builder.with_preloaded_language_models().build()

    def detect(texts: list[str]) -> list[str]:
        found = detector.detect_languages_in_parallel_of(texts)
        return [lang.iso_code_639_1.name.lower() if lang is not None else "und" for lang in found]

    return detect


def measure(candidate: str, dataset: str, rows_per_lang: int) -> dict[str, object]:
    import psutil

    rows = read_rows(dataset, rows_per_lang)
    langs = sorted({lang for _, lang in rows})
    texts = [text for text, _ in rows]
    before = psutil.Process().memory_info().rss
    start = time.perf_counter()
    detect = build(candidate, langs)
    detect(["warm up"])
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    found = detect(texts)
    run_s = time.perf_counter() - start
    rss_mb = (psutil.Process().memory_info().rss - before) / 1e6
    correct = sum(f == lang for f, (_, lang) in zip(found, rows, strict=True))
    und = sum(f == "und" for f in found)
    return {
        "candidate": candidate,
        "dataset": dataset,
        "rows": len(rows),
        "accuracy": correct / len(rows),
        "und_share": und / len(rows),
        "texts_per_s": len(rows) / run_s,
        "load_s": load_s,
        "memory_mb": rss_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows-per-lang", type=int, default=200)
    parser.add_argument("--one", nargs=2, metavar=("CANDIDATE", "DATASET"), help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], args.one[1], args.rows_per_lang)))
        return
    results = []
    for dataset in ["sib200", "xed_emotion"]:
        for candidate in CANDIDATES:
            out = subprocess.run(
                [sys.executable, __file__, "--one", candidate, dataset, "--rows-per-lang", str(args.rows_per_lang)],
                capture_output=True,
                text=True,
                check=True,
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    sizes = {name: install_size_mb(package) for name, package in PACKAGE.items()}
    print("| detector | dataset | rows | accuracy | und | texts/s | load s | memory MB | install MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        size = sizes[str(r["candidate"]).split("-")[0]]
        print(
            f"| {r['candidate']} | {r['dataset']} | {r['rows']} | {r['accuracy']:.3f} | {r['und_share']:.3f} | "
            f"{r['texts_per_s']:.0f} | {r['load_s']:.2f} | {r['memory_mb']:.0f} | {size:.1f} |"
        )


if __name__ == "__main__":
    main()
