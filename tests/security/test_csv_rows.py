"""A CSV row or field too large is rejected as one row (rejects file, row number, reason); the run goes on."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlpops.batch import BatchOptions, run_batch
from nlpops.batch.csv_rows import MAX_ROW_CHARS
from nlpops.batch.records import RecordSource
from nlpops.bundle import Bundle
from nlpops.data import read_dataset
from nlpops.errors import DataError


def _csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


HUGE_QUOTED = 'big, "quoted"\nfield ' * 12_000  # ~240k characters, commas, quotes and newlines inside
HUGE_PLAIN = "x" * 200_000


@pytest.mark.parametrize("huge", [HUGE_QUOTED, HUGE_PLAIN], ids=["quoted-multiline", "plain"])
def test_batch_rejects_an_oversized_field_as_a_row_and_goes_on(tiny_bundle: Bundle, tmp_path: Path, huge: str) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        _csv([["id", "text"], ["a", "my card is lost"], ["b", huge], ["c", "refund the fee, please"]]), "utf-8"
    )
    out = tmp_path / "out.jsonl"
    result = run_batch(tiny_bundle.path, BatchOptions(source, out, id_column="id", workers=0))
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    rejects = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in written] == ["a", "c"]
    assert [(r["row"], r["reason"]) for r in rejects] == [
        (2, f"a field longer than {csv.field_size_limit()} characters (the CSV field size limit)")
    ]
    assert (result.read, result.written, result.rejected) == (3, 2, 1)


def test_batch_rejects_a_row_longer_than_the_row_bound(tiny_bundle: Bundle, tmp_path: Path) -> None:
    many = ["field"] * (MAX_ROW_CHARS // 5)  # one line, no field over the field limit, the row over the bound
    source = tmp_path / "in.csv"
    source.write_text(_csv([["text", "n"], ["my card", "1"], ["refund", *many], ["card lost", "3"]]), "utf-8")
    out = tmp_path / "out.jsonl"
    result = run_batch(tiny_bundle.path, BatchOptions(source, out, workers=0))
    rejects = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["row"], r["reason"]) for r in rejects] == [(2, f"row longer than {MAX_ROW_CHARS} characters")]
    assert (result.read, result.written, result.rejected) == (3, 2, 1)


def test_training_data_with_an_oversized_field_is_one_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "train.csv"
    source.write_text(_csv([["text", "label"], ["ok", "a"], [HUGE_PLAIN, "b"]]), "utf-8")
    with pytest.raises(DataError, match=r"row 2: a field longer than \d+ characters"):
        read_dataset(source)


_PIECES = st.sampled_from(["a", "b", "é", " ", ",", '"', '""', "\n", "\r\n", "\r", "x" * 40])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.lists(_PIECES, max_size=12).map("".join), min_size=1, max_size=12))
def test_any_csv_rows_are_read_one_result_per_row(tmp_path_factory: pytest.TempPathFactory, texts: list[str]) -> None:
    """Whatever the texts (quotes, delimiters, line breaks), each written row gives exactly one result, in order:
    its text, or a rejection (too long, or empty)."""
    max_row = 120
    source = tmp_path_factory.mktemp("csv") / "in.csv"
    rows = [[str(i), text] for i, text in enumerate(texts)]
    source.write_text(_csv([["id", "text"], *rows]), encoding="utf-8", newline="")
    results = list(RecordSource(source, "text", "id", max_row_chars=max_row))
    assert [number for number, *_ in results] == list(range(1, len(rows) + 1))
    for (ident, text), (_, got_id, got_text, reason) in zip(rows, results, strict=True):
        if len(_csv([[ident, text]])) > max_row:
            assert reason == f"row longer than {max_row} characters"
        elif text == "":
            assert reason == 'empty text in column "text"'
        else:
            assert (got_id, got_text, reason) == (ident, text, None)
