"""CLI flows as a user runs them: real subprocesses, exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from nlpops.data import bundled_dataset


def nlpops(*args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NLPOPS_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "nlpops", *args], cwd=cwd, input=stdin, capture_output=True, text=True, env=full_env
    )


def assert_one_line_error(result, fragment: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]


BAD_INPUTS = {
    "missing file": (None, "does not exist"),
    "missing column": (b"body,label\na,x\nb,y\n", 'no column "text"'),
    "empty file": (b"", "is empty"),
    "non-UTF-8 bytes": ("text,label\nna\u00efve,x\nb,y\n".encode("latin-1"), "not valid UTF-8"),
    "rare label": (b"text,label\na,x\nb,x\nc,y\n", 'label "y" has fewer than 2 examples'),
    "single label": (b"text,label\na,x\nb,x\n", "single label"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_cli_bad_training_data_exits_1_with_one_line(tmp_path: Path, case: str) -> None:
    content, fragment = BAD_INPUTS[case]
    data = tmp_path / "data.csv"
    if content is not None:
        data.write_bytes(content)
    assert_one_line_error(nlpops("train", "--data", str(data), cwd=tmp_path), fragment)


@pytest.mark.parametrize(
    ("yaml_text", "fragment"),
    [("model: [\n", "not valid YAML"), ("model:\n  famly: tfidf\n", "model.famly: unknown key")],
)
def test_cli_malformed_config_exits_1_with_one_line(tmp_path: Path, yaml_text: str, fragment: str) -> None:
    (tmp_path / "nlpops.yaml").write_text(yaml_text)
    data = bundled_dataset("sms_spam", "test")
    assert_one_line_error(nlpops("train", "--data", str(data), cwd=tmp_path), fragment)


def test_cli_bad_env_override_names_the_variable(tmp_path: Path) -> None:
    result = nlpops("train", "--data", "x.csv", cwd=tmp_path, env={"NLPOPS_SERVING__MAX_BATCH_SIZE": "0"})
    assert_one_line_error(result, "NLPOPS_SERVING__MAX_BATCH_SIZE")


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    assert nlpops("train", cwd=tmp_path).returncode == 2
    assert nlpops("no-such-command", cwd=tmp_path).returncode == 2


def test_cli_unknown_model_is_one_line(tmp_path: Path) -> None:
    assert_one_line_error(nlpops("predict", "ghost@production", "hi", cwd=tmp_path), 'No model named "ghost"')


def test_cli_predict_url_timeout_names_a_flag_that_exists(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (in its backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = nlpops("predict", "--url", url, "--timeout-s", "0.5", "my card", cwd=tmp_path)
    assert_one_line_error(result, "did not answer within 0.5 s")
    named = re.findall(r"--[a-z][a-z-]*", result.stderr)
    assert named, result.stderr
    usage = nlpops("predict", "--help", cwd=tmp_path).stdout
    assert all(flag in usage for flag in named), (named, usage)


def test_cli_train_register_predict_evaluate_registry_flow(tmp_path: Path) -> None:
    train, test = bundled_dataset("sms_spam", "train"), bundled_dataset("sms_spam", "test")
    result = nlpops(
        "train",
        "--data",
        str(train),
        "--test",
        str(test),
        "--name",
        "spam",
        "--register",
        "--promote",
        "production",
        "--json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["registered"] == "spam:1" and summary["macro_f1"] > 0.95

    result = nlpops("predict", "spam", "WINNER!! You have won a free prize, call now", "see you at lunch", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    labels = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert labels == ["spam", "ham"]

    result = nlpops("predict", "spam@production", "--json", cwd=tmp_path, stdin="ok thanks\nfree entry to win cash\n")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["ok thanks", "free entry to win cash"]
    assert all(0 < r["score"] <= 1 for r in rows)

    result = nlpops("evaluate", "spam:1", "--data", str(test), "--json", cwd=tmp_path)
    report = json.loads(result.stdout)
    assert report["macro_f1"] == pytest.approx(summary["macro_f1"])
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix"} <= set(report)

    # a second version, promoted, then rolled back
    assert (
        nlpops(
            "train", "--data", str(test), "--name", "spam", "--out", "models/v2", "--register", cwd=tmp_path
        ).returncode
        == 0
    )
    assert nlpops("registry", "promote", "spam", "2", cwd=tmp_path).returncode == 0
    shown = json.loads(nlpops("registry", "show", "spam@production", "--json", cwd=tmp_path).stdout)
    assert shown["version"] == 2
    result = nlpops("registry", "rollback", "spam", cwd=tmp_path)
    assert result.returncode == 0 and "rolled back to version 1" in result.stdout
    events = json.loads(nlpops("registry", "log", "spam", "--json", cwd=tmp_path).stdout)
    assert [e["action"] for e in events] == ["registered", "promoted", "registered", "promoted", "rolled_back"]
    listed = json.loads(nlpops("registry", "list", "--json", cwd=tmp_path).stdout)
    assert [(r["version"], r["aliases"]) for r in listed] == [(1, ["production"]), (2, [])]


def test_cli_evaluate_with_labels_the_model_does_not_know_is_one_line(tmp_path: Path) -> None:
    from nlpops.testing import tiny_tfidf_bundle

    tiny_tfidf_bundle(tmp_path / "model")  # labels: card, money
    data = tmp_path / "other.csv"
    data.write_text("text,label\nmy card was stolen,card\nhello there,greeting\nnice weather,weather\n", "utf-8")
    result = nlpops("evaluate", "./model", "--data", str(data), cwd=tmp_path)
    assert_one_line_error(result, "labels the model does not know: greeting, weather (2 of 3 rows)")


def test_cli_second_train_refuses_the_existing_folder_before_training(tmp_path: Path) -> None:
    train = str(bundled_dataset("sms_spam", "test"))
    assert nlpops("train", "--data", train, "--name", "spam", cwd=tmp_path).returncode == 0
    before = (tmp_path / "models/spam/nlpops-bundle.json").read_bytes()
    result = nlpops("train", "--data", str(tmp_path / "missing.csv"), "--name", "spam", cwd=tmp_path)
    # refused on the folder before the (missing) data is even read: no time spent training
    assert_one_line_error(result, '"models/spam" already exists')
    assert "--overwrite" in result.stderr and "overwrite=True" not in result.stderr
    assert (tmp_path / "models/spam/nlpops-bundle.json").read_bytes() == before
    assert nlpops("train", "--data", train, "--name", "spam", "--overwrite", cwd=tmp_path).returncode == 0
