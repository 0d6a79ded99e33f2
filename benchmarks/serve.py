"""Serving benchmark: nlpops serve vs a plain FastAPI endpoint vs the in-process ceiling, same bundle, same run.

The services run pinned to core 0 (``taskset -c 0``), the load generator to core 1. The load generator is
raw asyncio streams with keep-alive HTTP/1.1, one connection per concurrent client (closed loop); its own
ceiling is measured against a trivial ASGI endpoint. Texts are real banking77 texts.

Usage::

    .venv/bin/python benchmarks/serve.py [--bundle DIR] [--duration-s 8] [--concurrency 1 16 64]

Prints a Markdown table (copy it into benchmarks/README.md). Figures are noisy on a shared machine.

Against older code (a regression check): ``--baseline SRC`` serves the same bundle with the nlpops source
tree at SRC too (``nlpops-baseline``, e.g. ``git worktree add /tmp/nlpops-base d7ea893`` then
``--baseline /tmp/nlpops-base/src``), alternating with the current code for ``--rounds`` rounds (the order
flips every round), and prints each round, the means and their ratio per concurrency::

    .venv/bin/python benchmarks/serve.py --baseline /tmp/nlpops-base/src --rounds 3 --concurrency 64
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
PY = sys.executable


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _texts(n: int = 2000) -> list[str]:
    from nlpops.data import bundled_dataset, read_dataset

    return read_dataset(bundled_dataset("banking77", "test")).texts[:n]


def build_banking77_bundle(out: Path) -> Path:
    """Train the TF-IDF banking77 bundle once (cached in ``out``)."""
    if (out / "nlpops-bundle.json").is_file():
        return out
    from nlpops.checklist import NlpopsConfig
    from nlpops.data import bundled_dataset, read_dataset
    from nlpops.families import build_bundle

    train = read_dataset(bundled_dataset("banking77", "train"))
    test = read_dataset(bundled_dataset("banking77", "test"))
    build_bundle(NlpopsConfig.model_validate({"name": "banking77"}), train, test, out, name="banking77")
    return out


# -- servers (each run as: python benchmarks/serve.py --server KIND BUNDLE PORT) ---------------------------


def _run_server(kind: str, bundle: str, port: int) -> None:
    import uvicorn

    if kind == "nlpops":
        from nlpops.checklist import load_config
        from nlpops.serve.server import serve

        config = load_config(None, {"serving": {"port": port, "max_queue": 100_000}})
        serve(bundle, config.serving, config.monitoring, config.registry)
        return
    if kind == "nlpops-asgi":  # the same service through uvicorn's own protocol and the ASGI app (the path before
        # nlpops.serve.http): the same-run baseline of the HTTP protocol
        from nlpops.checklist import load_config
        from nlpops.serve.server import build_app, uvicorn_options
        from nlpops.serve.source import load_model, source_for_ref

        config = load_config(None, {"serving": {"port": port, "max_queue": 100_000}})
        source = source_for_ref(bundle, config.registry, None)
        app = build_app(source, config.serving, config.monitoring, follow=False, initial=load_model(source()))
        uvicorn.Server(uvicorn.Config(app, **{**uvicorn_options(config.serving), "http": "httptools"})).run()
        return
    if kind == "nlpops-granian":  # the same nlpops app under granian (pip install granian), for the server choice
        os.environ["NLPOPS_SERVE_REF"] = bundle
        os.environ["NLPOPS_SERVE_OVERRIDES"] = json.dumps({"serving": {"max_queue": 100_000}})
        os.execvp(
            "granian",
            ["granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--loop", "uvloop", "--no-ws", "--factory", "nlpops.serve.server:app_from_environment"],
        )  # fmt: skip
    if kind == "fastapi":
        from fastapi import FastAPI
        from pydantic import BaseModel

        from nlpops.runtimes import load_predictor

        predictor = load_predictor(bundle)
        app = FastAPI()

        class Body(BaseModel):
            texts: list[str]

        @app.post("/v1/classify")
        def classify(body: Body) -> dict[str, Any]:  # one request, one predict call (FastAPI's threadpool)
            preds = predictor.predict(body.texts)
            return {"predictions": [{"label": label, "score": score} for label, score in preds]}

        @app.get("/healthz")
        def health() -> dict[str, str]:
            return {"status": "ok"}

        uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning")
        return

    # "trivial": the load generator's own ceiling
    async def trivial(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        body = b'{"predictions":[{"label":"x","score":1.0}]}'
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(trivial, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning")


# -- load generator (python benchmarks/serve.py --loadgen PORT CONCURRENCY DURATION) ----------------------


async def _client(port: int, payloads: list[bytes], stop_at: float, latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    while time.perf_counter() < stop_at:
        payload = payloads[i % len(payloads)]
        i += 1
        started = time.perf_counter()
        writer.write(payload)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - started)
        if not head.startswith(b"HTTP/1.1 200"):
            errors.append(1)
    writer.close()


def http_requests(path: str, bodies: list[dict[str, Any]]) -> list[bytes]:
    """One keep-alive ``POST path`` request, bytes ready to write, per JSON body."""
    payloads = []
    for document in bodies:
        body = json.dumps(document).encode()
        payloads.append(
            b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" % path.encode()
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )
    return payloads


def drive(port: int, payloads: list[bytes], concurrency: int, duration_s: float) -> dict[str, float]:
    """``concurrency`` closed-loop clients send ``payloads`` (each from its own offset) for ``duration_s`` after a
    one-second warm-up: requests per second, p50 and p99 latency, errors. Used by every benchmark here."""
    import uvloop

    latencies: list[float] = []
    errors: list[int] = []

    def rotated(offset: int) -> list[bytes]:
        offset %= len(payloads)
        return payloads[offset:] + payloads[:offset]

    async def main() -> None:
        warm_until = time.perf_counter() + 1.0
        await asyncio.gather(*(_client(port, rotated(c), warm_until, [], []) for c in range(concurrency)))
        stop_at = time.perf_counter() + duration_s
        await asyncio.gather(*(_client(port, rotated(c * 7), stop_at, latencies, errors) for c in range(concurrency)))

    uvloop.run(main())
    latencies.sort()
    n = len(latencies)
    return {
        "rps": n / duration_s,
        "p50_ms": 1000 * latencies[n // 2] if n else float("nan"),
        "p99_ms": 1000 * latencies[min(n - 1, int(n * 0.99))] if n else float("nan"),
        "errors": len(errors),
    }


def _loadgen(port: int, concurrency: int, duration_s: float) -> dict[str, float]:
    payloads = http_requests("/v1/classify", [{"texts": [text]} for text in _texts()])
    return drive(port, payloads, concurrency, duration_s)


# -- orchestration ---------------------------------------------------------------------------------------


def _start(kind: str, bundle: Path, port: int, source: Path | None = None) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server of ``kind`` on core 0; ``source``: serve with the nlpops source tree there instead."""
    env = dict(os.environ)
    if source is not None:  # PYTHONPATH comes before the installed (editable) nlpops
        env["PYTHONPATH"] = os.pathsep.join([str(source), *filter(None, [env.get("PYTHONPATH")])])
    started = time.perf_counter()
    process = subprocess.Popen(
        ["taskset", "-c", "0", PY, str(HERE), "--server", kind, str(bundle), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    import httpx

    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code in (200, 404):
                return process, time.perf_counter() - started
        except httpx.TransportError:
            time.sleep(0.02)
        if process.poll() is not None:
            raise SystemExit(f"{kind} server exited with {process.returncode}")


def _drive(port: int, concurrency: int, duration_s: float) -> dict[str, float]:
    out = subprocess.run(
        ["taskset", "-c", "1", PY, str(HERE), "--loadgen", str(port), str(concurrency), str(duration_s)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _in_process(bundle: Path, duration_s: float) -> dict[str, float]:
    out = subprocess.run(
        ["taskset", "-c", "0", PY, str(HERE), "--inprocess", str(bundle), str(duration_s)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _measure_in_process(bundle: str, duration_s: float) -> dict[str, float]:
    from nlpops.runtimes import load_predictor

    predictor = load_predictor(bundle)
    texts = _texts()
    result = {}
    for batch in (1, 32):
        predictor.predict_proba(texts[:batch])
        done, i = 0, 0
        stop_at = time.perf_counter() + duration_s / 2
        started = time.perf_counter()
        while time.perf_counter() < stop_at:
            chunk = texts[i : i + batch] or texts[:batch]
            i = (i + batch) % len(texts)
            predictor.predict_proba(chunk)
            done += len(chunk)
        result[f"batch{batch}_texts_per_s"] = done / (time.perf_counter() - started)
    return result


def _serve_and_drive(
    kind: str, bundle: Path, concurrency: list[int], duration_s: float, source: Path | None = None
) -> list[tuple[int, dict[str, float]]]:
    port = _free_port()
    process, _cold = _start(kind, bundle, port, source)
    try:
        return [(c, _drive(port, c, duration_s)) for c in concurrency]
    finally:
        process.terminate()
        process.wait()


def compare_with_baseline(
    bundle: Path, baseline: Path, rounds: int, concurrency: list[int], duration_s: float
) -> list[str]:
    """The current nlpops against the one at ``baseline`` (a source tree), alternating, ``rounds`` rounds.

    Returns:
        Markdown lines: every round's figures, then the means and the ratio current / baseline.
    """
    if not (baseline / "nlpops" / "__init__.py").is_file():
        raise SystemExit(f"--baseline {baseline}: no nlpops package there (give the src folder of a checkout)")
    sources: dict[str, Path | None] = {"nlpops-baseline": baseline, "nlpops": None}
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    lines = ["| round | server | concurrency | req/s | p50 ms | p99 ms | errors |"]
    lines.append("|---:|---|---:|---:|---:|---:|---:|")
    for round_index in range(rounds):
        order = list(sources) if round_index % 2 == 0 else list(reversed(sources))
        for kind in order:
            for c, r in _serve_and_drive("nlpops", bundle, concurrency, duration_s, sources[kind]):
                runs.setdefault((kind, c), []).append(r)
                lines.append(
                    f"| {round_index + 1} | {kind} | {c} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
                    f"{r['p99_ms']:.2f} | {r['errors']:.0f} |"
                )
    lines += ["", "| concurrency | baseline req/s | current req/s | current / baseline | baseline p99 | current p99 |"]
    lines.append("|---:|---:|---:|---:|---:|---:|")
    for c in concurrency:
        base, new = runs[("nlpops-baseline", c)], runs[("nlpops", c)]
        base_rps, new_rps = (sum(r["rps"] for r in runs_) / len(runs_) for runs_ in (base, new))
        base_p99, new_p99 = (sum(r["p99_ms"] for r in runs_) / len(runs_) for runs_ in (base, new))
        lines.append(
            f"| {c} | {base_rps:.0f} | {new_rps:.0f} | {new_rps / base_rps:.3f} | {base_p99:.2f} | {new_p99:.2f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_bundle = Path(tempfile.gettempdir()) / "nlpops-bench" / "banking77-tfidf"
    parser.add_argument("--bundle", type=Path, default=default_bundle, help="trained here once if missing")
    parser.add_argument("--duration-s", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument(
        "--servers",
        nargs="+",
        default=["trivial", "fastapi", "nlpops"],
        choices=["trivial", "fastapi", "nlpops", "nlpops-asgi", "nlpops-granian"],
        help="nlpops-granian: the nlpops app under granian instead of uvicorn (needs pip install granian)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="the src folder of another nlpops checkout: compare the current code with it, alternating",
    )
    parser.add_argument("--rounds", type=int, default=3, help="with --baseline: alternating rounds")
    args = parser.parse_args()
    bundle = build_banking77_bundle(args.bundle)
    if args.baseline is not None:
        lines = compare_with_baseline(bundle, args.baseline.resolve(), args.rounds, args.concurrency, args.duration_s)
        print("\n".join(lines))
        return
    ceiling = _in_process(bundle, args.duration_s)
    rows = []
    cold: dict[str, float] = {}
    for kind in args.servers:
        port = _free_port()
        process, cold[kind] = _start(kind, bundle, port)
        try:
            for concurrency in args.concurrency:
                rows.append((kind, concurrency, _drive(port, concurrency, args.duration_s)))
        finally:
            process.terminate()
            process.wait()
    print(f"in-process ceiling: {json.dumps(ceiling)}")
    print(f"cold start to /healthz (s): {json.dumps(cold)}")
    print("| server | concurrency | req/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, concurrency, r in rows:
        print(
            f"| {kind} | {concurrency} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']:.0f} |"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--server":
        _run_server(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        print(json.dumps(_loadgen(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "--inprocess":
        print(json.dumps(_measure_in_process(sys.argv[2], float(sys.argv[3]))))
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        main()
