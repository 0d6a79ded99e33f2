"""``nlpops package`` as a user runs it, then the rest of the chain: predict, profile, plan, deploy, monitor."""

from __future__ import annotations

import csv
import json
import re
import shlex
from pathlib import Path

import pytest

from nlpops.cli import main
from nlpops.data import Dataset


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return int(exit_info.value.code or 0), captured.out, captured.err


def write_csv(path: Path, data: Dataset) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(zip(data.texts, data.labels, strict=True))
    return path


@pytest.mark.parametrize(("fixture", "family"), [("spacy_folder", "spacy"), ("hf_tiny_folder", "transformer")])
def test_cli_package_register_profile_plan_deploy(
    fixture: str,
    family: str,
    request: pytest.FixtureRequest,
    intents_train: Dataset,
    intents_test: Dataset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = request.getfixturevalue(fixture)
    monkeypatch.chdir(tmp_path)
    train, test = write_csv(tmp_path / "train.csv", intents_train), write_csv(tmp_path / "test.csv", intents_test)
    args = ["package", str(source), "--name", "intents", "--data", str(train), "--test", str(test)]
    code, out, err = cli(capsys, *args, "--register", "--promote", "production", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["registered"] == "intents:1" and summary["promoted"] == "production"
    assert summary["parity"]["max_abs_diff"] <= 1e-5 and summary["macro_f1"] is not None
    assert summary["bundle"] == str(Path("models") / "intents")
    code, out, err = cli(capsys, "predict", "intents@production", "my card has still not arrived", "--json")
    assert code == 0 and json.loads(out.splitlines()[0])["label"] in summary_labels(tmp_path), err
    code, _, err = cli(capsys, "profile", "intents@production", "--out", "profile.json", "--budget-s", "1")
    assert code == 0, err
    assert json.loads(Path("profile.json").read_text())["bundle"]["family"] == family
    Path("nlpops.yaml").write_text(f"name: intents\nmodel:\n  family: {family}\n", encoding="utf-8")
    code, _, err = cli(capsys, "plan", "--profile-file", "profile.json", "--out", "plan")
    assert code == 0, err
    plan = json.loads(Path("plan/plan.json").read_text())
    bundle = Path("models/intents")
    if plan["chosen"]["runtime"].startswith("onnx"):  # the plan prefers the slim runtime: export first
        quantize = ["--quantize", "int8"] if plan["chosen"]["runtime"] == "onnx-int8-cpu" else []
        code, _, err = cli(capsys, "export", str(bundle), "--out", "onnx-bundle", "--no-measure", *quantize)
        assert code == 0, err
        bundle = Path("onnx-bundle")
    code, _, err = cli(
        capsys, "deploy", "--plan", "plan/plan.json", "--target", "docker", "--out", "deploy", "--bundle", str(bundle)
    )
    assert code == 0, err
    dockerfile = Path("deploy/Dockerfile").read_text(encoding="utf-8")
    manifest = json.loads((bundle / "nlpops-bundle.json").read_text())
    for requirement in manifest["requirements"]:
        assert shlex.quote(requirement) in dockerfile  # RUN words are shell-quoted
    installed = dockerfile.split("\nFROM ")[1].lower()
    unneeded = {"spacy", "torch", "transformers", "onnxruntime"} - {r.split("==")[0] for r in manifest["requirements"]}
    words = {word.strip("'\\") for word in installed.split()}
    assert unneeded & {re.split(r"[<>=!~;\[]", word, maxsplit=1)[0] for word in words} == set()


def summary_labels(root: Path) -> list[str]:
    return json.loads((root / "models" / "intents" / "nlpops-bundle.json").read_text())["labels"]


def test_cli_monitor_explains_a_model_packaged_without_data(
    hf_tiny_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "package", str(hf_tiny_folder), "--name", "bare")
    assert code == 0, err
    assert "packaged without --data" in out
    code, _, err = cli(capsys, "monitor", "models/bare")
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1, err
    assert (
        "no reference statistics" in lines[0]
        and "packaged without --data" in lines[0]
        and "--data REFERENCE.csv" in lines[0]
    )
