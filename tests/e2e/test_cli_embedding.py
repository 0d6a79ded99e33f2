"""Embedding models through the CLI: train (with or without data), evaluate by nearest-neighbour accuracy,
predict vectors, batch, export to int8; retraining an encoder is refused in one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from test_cli import assert_one_line_error, nlpops

from nlpops.data import bundled_dataset
from nlpops.testing.conformance import tiny_encoder_folder


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_encoder_folder(tmp_path_factory.mktemp("enc") / "tiny-bert")


def _sib200_english(out: Path) -> Path:
    with bundled_dataset("sib200", "test").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["lang"] == "en"]
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["text", "label"])
        writer.writeheader()
        writer.writerows({"text": r["text"], "label": r["label"]} for r in rows)
    return out


def test_cli_embedding_train_evaluate_predict_batch_export(encoder: Path, tmp_path: Path) -> None:
    bare = nlpops("train", "--task", "embedding", "--encoder", str(encoder), "--name", "enc", "--json", cwd=tmp_path)
    assert bare.returncode == 0, bare.stderr
    summary = json.loads(bare.stdout)
    assert (summary["task"], summary["family"], summary["runtime"], summary["bundle"]) == (
        "embedding", "transformer", "torch", "models/enc"
    )  # fmt: skip
    data = _sib200_english(tmp_path / "sib200-en.csv")
    trained = nlpops("train", "--task", "embedding", "--encoder", str(encoder), "--data", str(data), "--out", "m",
                     cwd=tmp_path)  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "embedding, transformer, 32-d" in trained.stdout and "test knn_accuracy" in trained.stdout
    human = nlpops("evaluate", "m", "--data", str(data), cwd=tmp_path)
    assert human.returncode == 0, human.stderr
    assert "on " in human.stdout and "(204 rows, 7 labels): nearest-neighbour accuracy" in human.stdout
    multilabel = tmp_path / "labels.jsonl"
    multilabel.write_text('{"text": "my card", "labels": ["card", "urgent"]}\n', encoding="utf-8")
    wrong_data = nlpops("evaluate", "m", "--data", str(multilabel), cwd=tmp_path)
    assert_one_line_error(wrong_data, 'holds multilabel data; model "model" is an embedding model.')
    report = json.loads(nlpops("evaluate", "m", "--data", str(data), "--json", cwd=tmp_path).stdout)
    assert report["task"] == "embedding" and report["rows"] == 204 and 0 < report["knn_accuracy"] <= 1
    predicted = nlpops("predict", "m", "my card has not arrived", "where is my money", "--json", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [set(r) for r in rows] == [{"text", "vector"}] * 2
    assert all(len(r["vector"]) == 32 and abs(np.linalg.norm(r["vector"]) - 1) < 1e-5 for r in rows)
    batch = nlpops("batch", "m", "-i", str(data), "-o", "vectors.parquet", "--quiet", "--json", cwd=tmp_path)
    assert batch.returncode == 0, batch.stderr
    assert json.loads(batch.stdout)["written"] == 204
    exported = nlpops("export", "m", "--out", "m-int8", "--quantize", "int8", "--no-measure", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "predictions agree on 100.00% of 200 reference texts" in exported.stdout


def test_cli_embedding_retrain_is_refused_and_only_embedding_trains_without_data(encoder: Path, tmp_path: Path) -> None:
    data = _sib200_english(tmp_path / "sib200-en.csv")
    (tmp_path / "nlpops.yaml").write_text(
        f"name: enc\nmodel:\n  task: embedding\n  transformer:\n    encoder: {encoder}\n", encoding="utf-8"
    )
    assert nlpops("train", "--data", str(data), "--register", "--promote", "production", cwd=tmp_path).returncode == 0
    refused = nlpops("retrain", "--data", str(data), cwd=tmp_path)
    assert_one_line_error(refused, "nlpops does not retrain embedding models: an encoder is used as it is.")
    missing = nlpops("train", "--task", "classification", cwd=tmp_path)  # a usage error, like any missing option
    assert missing.returncode == 2 and "--data" in missing.stderr and "only --task embedding" in missing.stderr
