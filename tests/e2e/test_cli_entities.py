"""CLI flows of an entity model: train infers the task from wnut17 and picks spaCy, evaluate prints the entity
scores, predict prints spans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nlpops.data import bundled_dataset

pytest.importorskip("spacy")


def nlpops(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NLPOPS_")} | env
    return subprocess.run(
        [sys.executable, "-m", "nlpops", *args], cwd=cwd, capture_output=True, text=True, env=full_env
    )


def head(split: str, n: int, out: Path) -> Path:
    lines = bundled_dataset("wnut17", split).read_text(encoding="utf-8").splitlines()[:n]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


@pytest.mark.slow
def test_cli_entities_train_evaluate_predict(tmp_path: Path) -> None:
    train, test = head("train", 400, tmp_path / "train.jsonl"), head("test", 100, tmp_path / "test.jsonl")
    trained = nlpops(
        "train", "--data", str(train), "--test", str(test), "--name", "ner", "--out", "ner", "--json",
        cwd=tmp_path, NLPOPS_MODEL__SPACY__EPOCHS="2",
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    summary = json.loads(trained.stdout)
    assert (summary["task"], summary["family"], summary["runtime"]) == ("entities", "spacy", "spacy")
    assert summary["labels"] == 6 and 0.0 <= summary["f1"] <= 1.0

    plain = nlpops("train", "--data", str(train), "--out", "ner2", cwd=tmp_path, NLPOPS_MODEL__SPACY__EPOCHS="1")
    assert plain.returncode == 0, plain.stderr
    assert "(entities, spacy, 6 labels)" in plain.stdout
    assert "test entity F1" in plain.stdout and "partial-overlap F1" in plain.stdout

    evaluated = nlpops("evaluate", "ner", "--data", str(test), "--json", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["task"] == "entities" and report["rows"] == 100
    assert report["f1"] == pytest.approx(summary["f1"], abs=1e-12)
    assert set(report["per_type"]) == {"corporation", "creative-work", "group", "location", "person", "product"}
    table = nlpops("evaluate", "ner", "--data", str(test), cwd=tmp_path)
    assert table.returncode == 0 and "entity F1" in table.stdout and "Per entity type" in table.stdout

    text = "I went to London with Justin Bieber"
    predicted = nlpops("predict", "ner", text, "--json", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    record = json.loads(predicted.stdout)
    assert record["text"] == text and all(text[e["start"] : e["end"]] == e["text"] for e in record["entities"])
    lines = nlpops("predict", "ner", text, cwd=tmp_path).stdout.splitlines()
    assert len(lines) == 1 and lines[0].endswith(f"\t{text}")

    wrong = nlpops("evaluate", "ner", "--data", str(bundled_dataset("sms_spam", "test")), cwd=tmp_path)
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert len([line for line in wrong.stderr.splitlines() if line.strip()]) == 1
