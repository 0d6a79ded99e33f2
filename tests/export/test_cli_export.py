"""``nlpops export`` as a user runs it: a subprocess, exit codes, one-line errors, the before/after table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nlpops.bundle import Bundle, load_bundle
from nlpops.testing import TINY_TEXTS


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    code = "import sys; from nlpops.cli import main; main(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, "export", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, **(env or {})},
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


def test_cli_export_register_promote_makes_a_new_version_of_the_same_model(
    word_tfidf_bundle: Bundle, tmp_path: Path
) -> None:
    from nlpops.registry import SqliteRegistry

    registry = SqliteRegistry(tmp_path / "registry")
    registry.register(word_tfidf_bundle.path, "words")
    registry.promote("words", 1, "production")
    env = {"NLPOPS_HOME": str(tmp_path / "registry")}
    done = run_cli("words@production", "--no-measure", "--register", "--promote", "production", "--json",
                   cwd=tmp_path, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["registered"] == "words:2" and payload["promoted"] == "production"
    # the default folder is under models/, named after the model and version (not ./1-onnx)
    assert Path(payload["bundle"]) == Path("models/words-1-onnx") and (tmp_path / "models/words-1-onnx").is_dir()
    assert registry.resolve("words", "production").version == 2
    assert registry.get("words", 2).runtime == "onnx"
    again = run_cli("words:1", "--no-measure", cwd=tmp_path, env=env)
    assert again.returncode == 1 and "--overwrite" in again.stderr
    assert run_cli("words:1", "--no-measure", "--overwrite", cwd=tmp_path, env=env).returncode == 0
    alone = run_cli("words:1", "--no-measure", "--promote", "staging", cwd=tmp_path, env=env)
    assert alone.returncode == 1 and "--promote needs --register" in alone.stderr
