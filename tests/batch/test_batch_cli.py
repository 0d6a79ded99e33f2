"""``nlpops batch`` as a subprocess: JSON result, one-line errors with exit code 1, registry refs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from batch_support import cli_command, read_csv_rows, write_input_csv

from nlpops.bundle import Bundle


def test_batch_cli_json_result_and_outputs(tiny_bundle: Bundle, tmp_path: Path) -> None:
    source = write_input_csv(tmp_path / "in.csv", 500, empty_every=100)
    out = tmp_path / "pred.jsonl"
    done = subprocess.run(
        cli_command("batch", str(tiny_bundle.path), "-i", str(source), "-o", str(out), "--workers", "0", "--json"),
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert (result["read"], result["written"], result["rejected"]) == (500, 495, 5)
    assert len(out.read_text(encoding="utf-8").splitlines()) == 495
    assert len(read_csv_rows(tmp_path / "in.csv")) == 500


def test_batch_cli_errors_are_one_line_with_exit_code_1(tiny_bundle: Bundle, tmp_path: Path) -> None:
    source = write_input_csv(tmp_path / "in.csv", 10)
    cases = [
        (["--text-column", "body"], 'no column "body"'),
        (["--workers", "-1"], "--workers must be >= 0"),
        (["--engine", "spark"], '--engine must be "local" or "ray"'),
    ]
    for extra, message in cases:
        args = ["batch", str(tiny_bundle.path), "-i", str(source), "-o", str(tmp_path / "o.csv"), *extra]
        done = subprocess.run(cli_command(*args), capture_output=True, text=True)
        assert done.returncode == 1, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr
        assert done.stderr.strip().count("\n") == 0 or done.stderr.startswith("error:")
    missing = subprocess.run(
        cli_command("batch", str(tmp_path / "nope"), "-i", str(source), "-o", str(tmp_path / "o.csv")),
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_batch_cli_resolves_registry_ref(tiny_bundle: Bundle, tmp_path: Path) -> None:
    from nlpops.checklist import RegistrySettings
    from nlpops.registry import open_registry

    home = tmp_path / "nlpops-home"
    registry = open_registry(RegistrySettings(home=home))
    version = registry.register(tiny_bundle.path, name="intent")
    registry.promote("intent", version.version, alias="production")
    source = write_input_csv(tmp_path / "in.csv", 50)
    out = tmp_path / "o.csv"
    done = subprocess.run(
        cli_command("batch", "intent@production", "-i", str(source), "-o", str(out), "--workers", "0", "--json"),
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(read_csv_rows(out)) == 50
