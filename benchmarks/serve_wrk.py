"""Serving benchmark with an independent load generator: wrk next to the project's own, nlpops serve next to a
plain FastAPI endpoint serving the same scikit-learn pipeline, in one run, means of interleaved rounds.

Every round starts each server afresh on core 0 (``taskset -c 0``) and measures, in this order:

- cold start: from launching the process to the first answered ``POST /v1/classify``;
- for each concurrency (default 1 and 64): wrk (``taskset -c 1``, one thread, that many connections, each
  request one random banking77 text from a Lua script; ``--latency``) and the project's own closed-loop
  generator (``benchmarks/serve.py``), both on ``/v1/classify``; for nlpops also the Open Inference Protocol's
  ``POST /v2/models/NAME/infer`` with wrk;
- peak RSS of the server process (``VmHWM``) after all that load.

The order of the servers flips every round. The in-process batch-32 ceiling of the same bundle (texts/s, core
0) is measured every round too. The plain FastAPI server loads the pipeline from a pickle written next to the
bundle (what a team without nlpops would deploy: FastAPI, pydantic, scikit-learn, joblib), one
``predict_proba`` per request in FastAPI's thread pool.

Usage::

    .venv/bin/python benchmarks/serve_wrk.py [--model default|word12] [--rounds 3] [--duration-s 8] [--cold-starts 9]

``--servers`` adds ``nlpops-asgi``: the same service through uvicorn's own HTTP protocol and the ASGI app, the
path ``nlpops serve`` took before nlpops' own protocol (``nlpops.serve.http``), as the same-run baseline.

``--model word12`` is the cheap word 1-2-gram TF-IDF model (no char n-grams), ``default`` the default
(word 1-2 + char 2-4 n-grams). Prints the goals of issue 16 with the figures they compare.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean, median
from typing import Any

import serve as own  # benchmarks/serve.py: servers, the own load generator, the in-process ceiling

HERE = Path(__file__).resolve()
PY = sys.executable

_LUA = """
local bodies = {BODIES}
local n = #bodies
math.randomseed(12345)
request = function()
  return wrk.format("POST", "{PATH}", {{["Content-Type"] = "application/json"}}, bodies[math.random(n)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests": %d, "duration_us": %d, "errors": %d, '
    .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def build_bundle(model: str, out: Path) -> Path:
    """The banking77 TF-IDF bundle of ``model`` (trained once, cached), with a pickle of its pipeline beside it."""
    if model == "default":
        bundle = own.build_banking77_bundle(out)
    else:
        bundle = out
        if not (out / "nlpops-bundle.json").is_file():
            from nlpops.checklist import NlpopsConfig
            from nlpops.data import bundled_dataset, read_dataset
            from nlpops.families import build_bundle as train

            config = NlpopsConfig.model_validate({"name": "banking77", "model": {"tfidf": {"char_ngrams": False}}})
            train_set = read_dataset(bundled_dataset("banking77", "train"))
            test_set = read_dataset(bundled_dataset("banking77", "test"))
            train(config, train_set, test_set, out, name="banking77")
    pickled = bundle.parent / f"{bundle.name}.joblib"
    if not pickled.is_file():
        import joblib

        from nlpops.runtimes.sklearn import load_pipeline

        joblib.dump(load_pipeline(bundle), pickled)  # our own file, for the plain FastAPI server only
    return bundle


def run_plain_fastapi(pickled: str, port: int) -> None:
    """A plain FastAPI endpoint over the pipeline: what a team writes without nlpops."""
    import joblib
    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel

    pipeline = joblib.load(pickled)
    labels = [str(c) for c in pipeline.classes_]
    app = FastAPI()

    class Body(BaseModel):
        texts: list[str]

    @app.post("/v1/classify")
    def classify(body: Body) -> dict[str, Any]:
        proba = pipeline.predict_proba(body.texts)
        best = proba.argmax(axis=1)
        return {"predictions": [{"label": labels[i], "score": float(proba[r, i])} for r, i in enumerate(best)]}

    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning")


def _lua_script(path: str, route: str, texts: list[str]) -> Path:
    if route == "v2":
        bodies = [
            json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [t]}]}) for t in texts
        ]
    else:
        bodies = [json.dumps({"texts": [t]}) for t in texts]
    table = "{" + ",".join(f"[==[{b}]==]" for b in bodies) + "}"
    script = Path(tempfile.gettempdir()) / f"nlpops-wrk-{route}.lua"
    template = _LUA.replace("{{", "{").replace("}}", "}")  # braces first: the bodies hold JSON
    script.write_text(template.replace("{PATH}", path).replace("{BODIES}", table))
    return script


def _wrk(port: int, path: str, route: str, concurrency: int, duration_s: float) -> dict[str, float]:
    script = _lua_script(path, route, own._texts())
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", f"-c{concurrency}", f"-d{duration_s:g}s", "--latency", "-s",
         str(script), f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = re.search(r"WRKJSON (\{.*\})", out.stdout)
    if found is None:
        raise SystemExit(f"wrk printed no summary: {out.stdout}\n{out.stderr}")
    r = json.loads(found.group(1))
    return {
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50_ms": r["p50_us"] / 1000,
        "p90_ms": r["p90_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "max_ms": r["max_us"] / 1000,
        "errors": r["errors"],
    }


def _start(kind: str, bundle: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server on core 0; the cold start is launch → first answered classify request."""
    import httpx

    if kind == "fastapi":
        argv = [PY, str(HERE), "--plain-fastapi", str(bundle.parent / f"{bundle.name}.joblib"), str(port)]
    else:
        argv = [PY, str(HERE.parent / "serve.py"), "--server", kind, str(bundle), str(port)]
    started = time.perf_counter()
    process = subprocess.Popen(["taskset", "-c", "0", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1/classify"
    while True:
        try:
            if httpx.post(url, json={"texts": ["my card has not arrived"]}, timeout=5).status_code == 200:
                return process, time.perf_counter() - started
        except httpx.TransportError:
            time.sleep(0.005)
        if process.poll() is not None:
            raise SystemExit(f"{kind} server exited with {process.returncode}")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_round(kind: str, bundle: Path, model_name: str, concurrency: list[int], duration_s: float) -> dict[str, Any]:
    port = own._free_port()
    process, cold_s = _start(kind, bundle, port)
    result: dict[str, Any] = {"cold_s": cold_s}
    try:
        for c in concurrency:
            result[f"wrk_v1_c{c}"] = _wrk(port, "/v1/classify", "v1", c, duration_s)
            result[f"own_v1_c{c}"] = own._drive(port, c, duration_s)
            if kind.startswith("nlpops"):
                result[f"wrk_v2_c{c}"] = _wrk(port, f"/v2/models/{model_name}/infer", "v2", c, duration_s)
        result["peak_rss_mb"] = _peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait()
    return result


def _mean(rounds: list[dict[str, Any]], key: str, field: str | None = None) -> float:
    return mean(r[key][field] if field else r[key] for r in rounds)


def report(runs: dict[str, list[dict[str, Any]]], ceilings: list[float], concurrency: list[int]) -> list[str]:
    lines = ["| server | route | generator | c | req/s | p50 ms | p90 ms | p99 ms | max ms | errors |"]
    lines.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind, rounds in runs.items():
        for c in concurrency:
            for key, route, generator in (
                (f"wrk_v1_c{c}", "/v1/classify", "wrk"),
                (f"own_v1_c{c}", "/v1/classify", "own"),
                (f"wrk_v2_c{c}", "/v2/.../infer", "wrk"),
            ):
                if key not in rounds[0]:
                    continue
                cell = {f: _mean(rounds, key, f) for f in rounds[0][key]}
                p90 = f"{cell['p90_ms']:.2f}" if "p90_ms" in cell else "-"
                top = f"{cell['max_ms']:.1f}" if "max_ms" in cell else "-"
                lines.append(
                    f"| {kind} | {route} | {generator} | {c} | {cell['rps']:.0f} | {cell['p50_ms']:.2f} | {p90} | "
                    f"{cell['p99_ms']:.2f} | {top} | {cell['errors']:.0f} |"
                )
    lines += ["", "| server | cold start s | peak RSS MB |", "|---|---:|---:|"]
    for kind, rounds in runs.items():
        lines.append(f"| {kind} | {_mean(rounds, 'cold_s'):.2f} | {_mean(rounds, 'peak_rss_mb'):.0f} |")
    ceiling = mean(ceilings)
    lines += ["", f"in-process batch-32 ceiling: {ceiling:.0f} texts/s (mean of {len(ceilings)})", ""]
    nl, fa = runs.get("nlpops"), runs.get("fastapi")
    if nl and fa:
        lo, hi = min(concurrency), max(concurrency)
        p50 = _mean(nl, f"wrk_v1_c{lo}", "p50_ms") / _mean(fa, f"wrk_v1_c{lo}", "p50_ms")
        share = _mean(nl, f"wrk_v1_c{hi}", "rps") / ceiling
        v2 = _mean(nl, f"wrk_v2_c{hi}", "rps") / _mean(nl, f"wrk_v1_c{hi}", "rps")
        cold = _mean(nl, "cold_s") / _mean(fa, "cold_s")
        rss = _mean(nl, "peak_rss_mb") / _mean(fa, "peak_rss_mb")
        lines += [
            "| goal | figure | met |",
            "|---|---:|---|",
            f"| c={lo} p50 at least 20% below plain FastAPI (wrk) | nlpops / FastAPI = {p50:.2f} | {p50 <= 0.8} |",
            f"| c={hi} at least 50% of the batch-32 ceiling (wrk) | {share:.2f} | {share >= 0.5} |",
            f"| cold start no worse than plain FastAPI | nlpops / FastAPI = {cold:.2f} | {cold <= 1.0} |",
            f"| peak RSS no worse than plain FastAPI | nlpops / FastAPI = {rss:.2f} | {rss <= 1.0} |",
            f"| /v2 infer within 10% of /v1/classify (wrk, c={hi}) | v2 / v1 = {v2:.2f} | {v2 >= 0.9} |",
        ]
    asgi = runs.get("nlpops-asgi")
    if nl and asgi:
        lo, hi = min(concurrency), max(concurrency)
        gain = _mean(nl, f"wrk_v1_c{hi}", "rps") / _mean(asgi, f"wrk_v1_c{hi}", "rps")
        p50 = _mean(nl, f"wrk_v1_c{lo}", "p50_ms") / _mean(asgi, f"wrk_v1_c{lo}", "p50_ms")
        lines += [
            "",
            f"nlpops' HTTP protocol against the ASGI path (same run): c={hi} req/s x{gain:.2f}, "
            f"c={lo} p50 x{p50:.2f}, ceiling share {_mean(asgi, f'wrk_v1_c{hi}', 'rps') / ceiling:.2f} before",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["default", "word12"], default="word12")
    parser.add_argument("--bundle-dir", type=Path, default=Path(tempfile.gettempdir()) / "nlpops-bench")
    parser.add_argument("--duration-s", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument(
        "--cold-starts",
        type=int,
        default=0,
        help="also start each server this many more times, alternating, without load: cold start medians",
    )
    parser.add_argument(
        "--servers",
        nargs="+",
        default=["fastapi", "nlpops", "nlpops-asgi"],
        choices=["fastapi", "nlpops", "nlpops-asgi"],
        help="nlpops-asgi: the same service through uvicorn's own protocol and the ASGI app (the path before "
        "nlpops' HTTP protocol), as the same-run baseline",
    )
    args = parser.parse_args()
    folder = "banking77-tfidf" if args.model == "default" else "banking77-word12"
    bundle = build_bundle(args.model, args.bundle_dir / folder)
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in args.servers}
    ceilings: list[float] = []
    for index in range(args.rounds):
        order = args.servers if index % 2 == 0 else list(reversed(args.servers))
        for kind in order:
            runs[kind].append(run_round(kind, bundle, "banking77", args.concurrency, args.duration_s))
            print(f"round {index + 1} {kind}: {json.dumps(runs[kind][-1])}", file=sys.stderr)
        ceilings.append(own._in_process(bundle, args.duration_s)["batch32_texts_per_s"])
    if args.rounds:  # --rounds 0 --cold-starts N: cold starts only
        print(f"model: {args.model}; {args.rounds} rounds of {args.duration_s:g} s per cell")
        print("\n".join(report(runs, ceilings, args.concurrency)))
    if args.cold_starts:
        print("\n".join(cold_starts(args.servers, bundle, args.cold_starts)))


def cold_starts(servers: list[str], bundle: Path, count: int) -> list[str]:
    """Start each server ``count`` times, alternating (no load): median and range of launch → first answer."""
    times: dict[str, list[float]] = {kind: [] for kind in servers}
    for index in range(count):
        for kind in servers if index % 2 == 0 else list(reversed(servers)):
            process, seconds = _start(kind, bundle, own._free_port())
            process.terminate()
            process.wait()
            times[kind].append(seconds)
    lines = ["", f"| server | cold start s, median of {count} | min | max |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {median(v):.2f} | {min(v):.2f} | {max(v):.2f} |" for k, v in times.items()]
    if "nlpops" in times and "fastapi" in times:
        ratio = median(times["nlpops"]) / median(times["fastapi"])
        lines.append(f"\ncold start nlpops / FastAPI (medians): {ratio:.2f}")
    return lines


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--plain-fastapi":
        run_plain_fastapi(sys.argv[2], int(sys.argv[3]))
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        main()
