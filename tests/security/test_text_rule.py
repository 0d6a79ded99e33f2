"""One rule for what a text is, in every path: whitespace-only texts are answered, empty ones are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nlpops
from nlpops.batch import BatchOptions, run_batch
from nlpops.bundle import Bundle
from nlpops.errors import DataError

WHITESPACE = ["   ", "\t", "\u3000"]


def _nlpops(*args: str, stdin: str | None = None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NLPOPS_")}
    return subprocess.run(
        [sys.executable, "-m", "nlpops", *args], input=stdin, capture_output=True, text=True, env=env, cwd=cwd,
        timeout=120,
    )  # fmt: skip


def test_batch_answers_whitespace_only_texts_and_rejects_empty_ones(tiny_bundle: Bundle, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    rows = [{"text": "my card"}, *({"text": w} for w in WHITESPACE), {"text": ""}]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run_batch(tiny_bundle.path, BatchOptions(source, out, workers=0))
    answered = [json.loads(line)["row"] for line in out.read_text(encoding="utf-8").splitlines()]
    rejects = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert answered == [1, 2, 3, 4]
    assert [(r["row"], r["reason"]) for r in rejects] == [(5, 'empty text in column "text"')]
    assert (result.read, result.written, result.rejected) == (5, 4, 1)


def test_predict_answers_whitespace_only_lines_and_skips_empty_ones(tiny_bundle: Bundle, tmp_path: Path) -> None:
    result = _nlpops("predict", str(tiny_bundle.path), "--json", stdin="my card\n   \n\n\t\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == ["my card", "   ", "\t"]
    refused = _nlpops("predict", str(tiny_bundle.path), "my card", "", cwd=tmp_path)
    assert refused.returncode == 1 and "text 2 is empty" in refused.stderr and "Traceback" not in refused.stderr


def test_evaluate_counts_whitespace_only_texts_and_refuses_empty_ones(tiny_bundle: Bundle, tmp_path: Path) -> None:
    data = tmp_path / "test.csv"
    data.write_text('text,label\nmy card is lost,card\n"   ",money\nrefund the fee,money\n', encoding="utf-8")
    assert nlpops.evaluate(tiny_bundle.path, data)["rows"] == 3
    data.write_text('text,label\nmy card is lost,card\n"",money\nrefund the fee,money\n', encoding="utf-8")
    with pytest.raises(DataError, match='line 3: empty text in field "text"'):
        nlpops.evaluate(tiny_bundle.path, data)
