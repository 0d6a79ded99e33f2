"""``nlpops export`` as a user runs it: a subprocess, exit codes, one-line errors, the before/after table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nlpops.bundle import Bundle, load_bundle
from nlpops.testing import TINY_TEXTS


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from nlpops.cli import main; main(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, "export", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_cli_export_prints_before_after_table(word_tfidf_bundle: Bundle, tmp_path: Path) -> None:
    test_file = tmp_path / "test.csv"
    test_file.write_text("text,label\n" + "\n".join(f"{t},{label}" for t, label in TINY_TEXTS) + "\n")
    done = run_cli(str(word_tfidf_bundle.path), "--to", "onnx", "--out", "out", "--test", str(test_file), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for row in ("bundle size", "runtime footprint", "load time", "p50 latency", "throughput", "macro-F1"):
        assert row in done.stdout
    assert load_bundle(tmp_path / "out").manifest.runtime == "onnx"


def test_cli_export_json_without_measuring(word_tfidf_bundle: Bundle, tmp_path: Path) -> None:
    done = run_cli(str(word_tfidf_bundle.path), "--out", "o", "--no-measure", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["parity"]["agreement"] == 1.0
    assert "before" not in payload


def test_cli_export_error_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "not-a-bundle").mkdir()
    done = run_cli(str(tmp_path / "not-a-bundle"), "--out", "o", "--no-measure", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.count("error:") == 1
    assert "is not an nlpops bundle" in done.stderr


def test_cli_export_rejects_unknown_quantization(word_tfidf_bundle: Bundle, tmp_path: Path) -> None:
    done = run_cli(str(word_tfidf_bundle.path), "--quantize", "int4", cwd=tmp_path)
    assert done.returncode == 1
    assert "--quantize must be" in done.stderr
