"""Cold start of `nlpops serve`: launch to the first answered `POST /v1/classify`, per bundle format.

The same banking77 TF-IDF model in three formats: the scikit-learn runtime's declarative format
(``pipeline.json`` + ``pipeline.npz``, what ``nlpops train`` writes), the same pipeline saved with skops
(what nlpops wrote before; still loaded), and the ONNX export. Each is started ``--runs`` times in a fresh
process with the given interpreter; the median and the best are reported. Run it with the slim base install
too (``--python /path/to/slim/venv/bin/python``): with PyTorch installed, ``import skops.io`` also imports
torch (scikit-learn's array-API shim), which the declarative format avoids.

Usage::

    .venv/bin/python benchmarks/cold_start.py [--bundle DIR] [--runs 5] [--python PY]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def build_formats(bundle: Path, work: Path) -> dict[str, Path]:
    """The bundle as given, its skops twin, and its ONNX export (all in ``work``)."""
    from nlpops.bundle import load_bundle, save_bundle
    from nlpops.export import export_bundle
    from nlpops.runtimes.sklearn import load_pipeline, save_pipeline

    source = load_bundle(bundle)
    skops_dir = work / "skops"
    fields = source.manifest.model_dump(exclude={"files", "created_at", "schema_version"})

    save_bundle(skops_dir, fields, lambda staging: save_pipeline(load_pipeline(source.path), staging, skops=True))
    onnx_dir = work / "onnx"
    export_bundle(source, onnx_dir)
    return {"declared": source.path, "skops": skops_dir, "onnx": onnx_dir}


def first_answer_s(python: str, bundle: Path) -> float:
    """Seconds from launching ``nlpops serve`` to its first 200 on /v1/classify."""
    import httpx

    port = _free_port()
    started = time.perf_counter()
    code = "from nlpops.cli import main; main()"
    process = subprocess.Popen(
        [python, "-c", code, "serve", str(bundle), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/v1/classify", json={"text": "my card is lost"})
                if answer.status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise SystemExit(f"nlpops serve {bundle} exited with {process.returncode}")
            time.sleep(0.01)
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=None, help="a TF-IDF bundle (default: train banking77)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", default=sys.executable, help="interpreter of the environment to measure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bundle = args.bundle
        if bundle is None:
            sys.path.insert(0, str(HERE.parent))
            from serve import build_banking77_bundle

            bundle = build_banking77_bundle(work / "declared")
        formats = build_formats(bundle, work)
        results = {}
        for name, path in formats.items():
            times = [first_answer_s(args.python, path) for _ in range(args.runs)]
            results[name] = {"median_s": round(statistics.median(times), 3), "best_s": round(min(times), 3)}
    print(json.dumps({"python": args.python, "runs": args.runs, "first_answer": results}))


if __name__ == "__main__":
    main()
