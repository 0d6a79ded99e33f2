"""nlpops batch on an entity model: spans as JSON in every format, equal to the in-process spans; a run killed
with SIGKILL three times and resumed writes every row exactly once, byte for byte as an uninterrupted run."""

from __future__ import annotations

import csv
import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from batch_support import cli_command, kill_three_times_then_resume, read_csv_rows

from nlpops.bundle import Bundle
from nlpops.data import bundled_dataset, read_dataset
from nlpops.runtimes import load_predictor

pytest.importorskip("spacy")

CHUNK_ROWS = 200
TOTAL_CHUNKS = 40
N_ROWS = CHUNK_ROWS * TOTAL_CHUNKS


def write_wnut17_csv(path: Path, n_rows: int, *, empty_every: int = 0) -> Path:
    """A CSV (id,text) of ``n_rows`` wnut17 test texts repeated; every ``empty_every``-th text is empty."""
    texts = read_dataset(bundled_dataset("wnut17", "test")).texts
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text"])
        for i in range(n_rows):
            empty = empty_every and i % empty_every == empty_every - 1
            writer.writerow([f"id-{i}", "" if empty else texts[i % len(texts)]])
    return path


def test_batch_entities_spans_as_json_equal_in_process_spans(tiny_entities: Bundle, tmp_path: Path) -> None:
    texts = ["Alice flew to Paris", "nothing here", "Bob met Ünal in Berlin 🙂"]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": f"r{i}", "text": t}) + "\n" for i, t in enumerate(texts)), "utf-8")
    expected = load_predictor(tiny_entities.path).predict_entities(texts)
    for name in ("out.jsonl", "out.csv"):
        out = tmp_path / name
        args = ["batch", str(tiny_entities.path), "-i", str(source), "-o", str(out), "--id-column", "id", "--quiet"]
        subprocess.run(cli_command(*args), check=True, capture_output=True)
        if name.endswith(".jsonl"):
            rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
            found = [row["entities"] for row in rows]
        else:
            rows = read_csv_rows(out)
            assert list(rows[0]) == ["id", "entities"]
            found = [json.loads(row["entities"]) for row in rows]
        assert [row["id"] for row in rows] == ["r0", "r1", "r2"]
        assert found == [
            [
                {"start": s.start, "end": s.end, "label": s.label, "text": text[s.start : s.end], "score": s.score}
                for s in spans
            ]
            for text, spans in zip(texts, expected, strict=True)
        ]
    assert sum(len(spans) for spans in expected) >= 3


@pytest.mark.slow
def test_batch_entities_sigkill_three_times_then_resume_equals_uninterrupted(
    tiny_entities: Bundle, tmp_path: Path
) -> None:
    source = write_wnut17_csv(tmp_path / "in.csv", N_ROWS, empty_every=997)
    rejected = N_ROWS // 997

    def args(out: Path) -> list[str]:
        return [
            "batch", str(tiny_entities.path), "--input", str(source), "--output", str(out), "--id-column", "id",
            "--workers", "2", "--chunk-rows", str(CHUNK_ROWS), "--batch-size", "128", "--quiet", "--json",
        ]  # fmt: skip

    reference = tmp_path / "reference.jsonl"
    subprocess.run(cli_command(*args(reference)), check=True, capture_output=True)
    out = tmp_path / "out.jsonl"
    checkpoint = tmp_path / ".out.jsonl.nlpops-batch" / "checkpoint.json"
    result = kill_three_times_then_resume(args(out), checkpoint, TOTAL_CHUNKS)
    assert result["resumed_chunks"] > 0
    assert (result["read"], result["written"], result["rejected"]) == (N_ROWS, N_ROWS - rejected, rejected)
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(rows) == N_ROWS - rejected and max(Counter(r["id"] for r in rows).values()) == 1
    assert sum(len(r["entities"]) for r in rows) > 0
    assert out.read_bytes() == reference.read_bytes()
    assert not checkpoint.parent.exists()
