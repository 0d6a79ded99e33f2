"""Advisor stability: profile one bundle several times and plan the same checklist on each profile.

    .venv/bin/python benchmarks/advisor_stability.py --bundle models/intent --runs 3

Profiles the bundle ``--runs`` times (``nlpops profile``'s measurement: every runtime asked for, at the thread
counts asked for, in repeated rounds), then plans one checklist on each profile and prints, per run, the
machine's background load, the profile's reliability verdict, the chosen runtime and replica shape, and the
replica count. On a quiet machine the counts should agree within one (tests/test_profile.py checks it).
Without ``--bundle`` it trains the banking77 TF-IDF bundle once into ``--work``.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nlpops.advisor import load_rules, make_plan
from nlpops.bundle import load_bundle
from nlpops.checklist import NlpopsConfig
from nlpops.data import bundled_dataset, read_dataset
from nlpops.families import build_bundle
from nlpops.profile import profile_bundle


def _bundle(args: argparse.Namespace) -> Path:
    if args.bundle is not None:
        return Path(args.bundle)
    out = Path(args.work) / "banking77-tfidf"
    if not out.exists():
        build_bundle(NlpopsConfig(), read_dataset(bundled_dataset("banking77", "train")), None, out, name="banking77")
    return load_bundle(out).path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", help="bundle to profile (default: train banking77 TF-IDF into --work)")
    parser.add_argument("--work", default="/tmp/nlpops-bench", help="where the default bundle is built")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--runtimes", default="native-cpu", help="comma-separated runtime options to measure")
    parser.add_argument("--threads", default="1,2,4")
    parser.add_argument("--budget-s", type=float, default=2.0)
    parser.add_argument("--peak-rps", type=float, default=2000.0)
    parser.add_argument("--p95-ms", type=float, default=100.0)
    args = parser.parse_args()
    bundle = _bundle(args)
    rules = load_rules()
    config = NlpopsConfig.model_validate(
        {
            "traffic": {"peak_rps": args.peak_rps, "average_rps": args.peak_rps / 4, "availability": 0.99},
            "latency": {"p95_ms": args.p95_ms},
            "infrastructure": {"kubernetes": True},
            "lifecycle": {"stage": "long-lived"},
        }
    )
    runs: list[dict[str, Any]] = []
    for _ in range(args.runs):
        profile = profile_bundle(
            bundle,
            budget_s=args.budget_s,
            threads=[int(t) for t in args.threads.split(",")],
            runtimes=tuple(args.runtimes.split(",")),
        )
        plan = make_plan(config, profile, rules)
        capacity = plan["capacity"]
        runs.append(
            {
                "reliable": profile["reliability"]["reliable"],
                "max_background_cpus": profile["reliability"]["max_background_cpus"],
                "max_spread": profile["reliability"]["max_spread"],
                "runtime": plan["chosen"]["runtime"],
                "threads": capacity.get("cpu_request"),
                "texts_per_s_per_replica": capacity.get("throughput_per_replica_rps"),
                "replicas": capacity.get("replicas"),
            }
        )
    counts = [r["replicas"] for r in runs if r["replicas"] is not None]
    print(json.dumps({"bundle": str(bundle), "runs": runs, "replica_range": [min(counts), max(counts)]}, indent=2))


if __name__ == "__main__":
    main()
