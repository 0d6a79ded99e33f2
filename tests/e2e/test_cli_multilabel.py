"""Multi-label data through the CLI: the task is inferred from the JSON lines, bad rows are refused with their
line numbers (or skipped on request, and said so), evaluate and predict speak the task."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import assert_one_line_error, nlpops

from nlpops.data import bundled_dataset


def _subset(path: Path, out: Path, rows: int) -> Path:
    """``rows`` lines spread over the file (it is sorted by label)."""
    every = path.read_text(encoding="utf-8").splitlines()
    lines = every[:: max(1, len(every) // rows)][:rows]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def test_cli_multilabel_train_evaluate_predict(tmp_path: Path) -> None:
    train = _subset(bundled_dataset("xed_multilabel", "train"), tmp_path / "train.jsonl", 3000)
    test = _subset(bundled_dataset("xed_multilabel", "test"), tmp_path / "test.jsonl", 500)
    done = nlpops(
        "train", "--data", str(train), "--test", str(test), "--name", "emotions", "--out", "m", "--json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["task"] == "multilabel" and summary["family"] == "tfidf" and summary["labels"] == 8
    assert 0 < summary["macro_f1"] <= 1 and summary["skipped_rows"] == []
    human = nlpops("evaluate", "m", "--data", str(test), cwd=tmp_path)
    assert human.returncode == 0, human.stderr
    assert "micro-F1" in human.stdout and "threshold" in human.stdout and "joy" in human.stdout
    report = json.loads(nlpops("evaluate", "m", "--data", str(test), "--json", cwd=tmp_path).stdout)
    assert report["task"] == "multilabel" and report["macro_f1"] == summary["macro_f1"]
    predicted = nlpops("predict", "m", "I love you so much", "get out of here!", "--json", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [set(r) for r in rows] == [{"text", "labels"}] * 2
    assert all(0 <= x["score"] <= 1 for r in rows for x in r["labels"])
    wrong_data = nlpops("evaluate", "m", "--data", str(bundled_dataset("sms_spam", "test")), cwd=tmp_path)
    assert_one_line_error(wrong_data, 'holds classification data; model "emotions" is a multilabel model.')


def test_cli_bad_rows_are_refused_then_skipped_on_request(tmp_path: Path) -> None:
    lines = _subset(bundled_dataset("xed_multilabel", "train"), tmp_path / "x.jsonl", 400).read_text().splitlines()
    lines[9] = json.dumps({"text": "nothing", "labels": []})
    lines[99] = "{broken"
    data = tmp_path / "bad.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused = nlpops("train", "--data", str(data), "--out", "m", cwd=tmp_path)
    assert_one_line_error(refused, "2 bad rows (line 10: the label list is empty")
    assert "lines 10, 100)" in refused.stderr and "--skip-bad-rows" in refused.stderr
    skipped = nlpops("train", "--data", str(data), "--out", "m", "--skip-bad-rows", cwd=tmp_path)
    assert skipped.returncode == 0, skipped.stderr
    assert "Skipped 2 bad rows (--skip-bad-rows; lines 10, 100)." in skipped.stderr
    assert "multilabel, tfidf, 8 labels" in skipped.stdout
    forced = nlpops("train", "--data", str(data), "--out", "c", "--task", "classification", cwd=tmp_path)
    assert_one_line_error(forced, 'no column "label"')
