"""``nlpops compare-languages``, ``train --strategy`` and ``detect-language`` as a user runs them."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from language_support import per_language_sample, subprocess_env

from nlpops.data import Dataset, bundled_dataset, read_dataset

NLPOPS = str(Path(sys.executable).parent / "nlpops")
FAST_YAML = "model:\n  tfidf:\n    word_ngram_max: 1\n    char_ngram_max: 3\n    max_features: 4000\n"


def _write(dataset: Dataset, path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label", "lang"])
        writer.writerows(zip(dataset.texts, dataset.labels, dataset.langs or [], strict=True))
    return path


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NLPOPS, *args], cwd=cwd, env=subprocess_env(cwd / "home"), capture_output=True, text=True, timeout=600
    )


def _small_sib(tmp_path: Path, langs: set[str]) -> tuple[Path, Path]:
    def pick(split: str, rows: int) -> Dataset:
        data = read_dataset(bundled_dataset("sib200", split))
        return per_language_sample(data.subset([i for i, x in enumerate(data.langs or []) if x in langs]), rows)

    (tmp_path / "nlpops.yaml").write_text(FAST_YAML, encoding="utf-8")
    return _write(pick("train", 80), tmp_path / "train.csv"), _write(pick("test", 30), tmp_path / "test.csv")


def test_cli_compare_languages_prints_the_table_and_json(tmp_path: Path) -> None:
    train, test = _small_sib(tmp_path, {"de", "en", "ja"})
    result = _run("compare-languages", str(train), "--test", str(test), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["languages"] == ["de", "en", "ja"]
    assert report["test_rows"] == {"de": 30, "en": 30, "ja": 30}
    assert [s["strategy"] for s in report["strategies"]] == ["per-language", "multilingual"]
    for figures in report["strategies"]:
        assert set(figures["per_language_macro_f1"]) == {"de", "en", "ja"}
        assert figures["size_bytes"] > 0
        assert figures["p95_ms"] >= figures["p50_ms"] > 0
        assert figures["memory_measured"] == "process" and figures["memory_bytes"] > 20e6  # a whole process
    per_language, multilingual = report["strategies"]
    assert per_language["memory_bytes"] > multilingual["memory_bytes"]  # three models and a detector vs one
    assert report["routing_accuracy"] >= 0.95
    assert set(report["routing_accuracy_per_language"]) == {"de", "en", "ja"}
    assert per_language["stated_lang_macro_f1"] is not None and multilingual["stated_lang_macro_f1"] is None
    recommendation = report["recommendation"]
    better = max(("per-language", "multilingual"), key=lambda s: recommendation[s])
    assert recommendation["strategy"] in {better, "multilingual"}  # a near tie goes to the cheaper model
    table = _run("compare-languages", str(train), "--test", str(test), cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "Macro-F1 as served" in table.stdout and "│ ja " in table.stdout and "routing" in table.stdout
    assert "bundle size MB" in table.stdout and "memory MB (process)" in table.stdout
    assert f"Recommended: {recommendation['strategy']}" in table.stdout


def test_cli_train_strategy_registers_a_model_set(tmp_path: Path) -> None:
    train, test = _small_sib(tmp_path, {"de", "fr"})
    args = ["train", "--data", str(train), "--test", str(test), "--strategy", "per-language"]
    result = _run(*args, "--name", "topics", "--register", "--promote", "production", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["runtime"] == "router"
    assert summary["models"] == ["de", "fallback", "fr"]
    assert summary["registered"] == "topics:1"
    predicted = _run("predict", "topics@production", "Der Fußballverein gewann das Spiel.", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr


def test_cli_detect_language_and_one_line_errors(tmp_path: Path) -> None:
    result = _run("detect-language", "Guten Morgen, wie geht es Ihnen?", "😀", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [row["lang"] for row in json.loads(result.stdout)] == ["de", "und"]
    bad = _run("detect-language", "hello", "--languages", "en,fur", cwd=tmp_path)
    assert bad.returncode == 1
    assert "does not know fur" in bad.stderr  # names the language...
    assert "Leave fur out of the languages to detect" in bad.stderr  # ...and what to do instead
    assert "send lang with each request" in bad.stderr
    assert "Traceback" not in bad.stderr
