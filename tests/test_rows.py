"""nlpops.rows: records streamed with their line numbers, exactly as written in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlpops.errors import DataError
from nlpops.rows import detect_format, iter_numbered, iter_records


def test_rows_quoted_csv_fields_keep_their_line_breaks_and_rows_end_on_their_line(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(b'text,label\r\n"first line\r\nsecond line",a\r\nplain,b\r\n')
    rows = list(iter_numbered(path))
    assert rows == [
        (3, {"text": "first line\r\nsecond line", "label": "a"}, None),
        (4, {"text": "plain", "label": "b"}, None),
    ]


def test_rows_tsv_is_split_on_tabs(tmp_path: Path) -> None:
    path = tmp_path / "d.tsv"
    path.write_text("text\tlabel\na, b\tc\n", encoding="utf-8")
    assert list(iter_records(path)) == [{"text": "a, b", "label": "c"}]


def test_rows_unreadable_json_lines_are_rows_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "ok"}\n\n[1, 2]\n"just a string"\n{broken\n', encoding="utf-8")
    rows = list(iter_numbered(path))
    assert rows[0] == (1, {"text": "ok"}, None)
    assert rows[1] == (3, None, "expected a JSON object, got list")
    assert rows[2] == (4, None, "expected a JSON object, got str")
    assert rows[3][0] == 5 and rows[3][1] is None and rows[3][2] is not None and rows[3][2].startswith("not valid JSON")
    with pytest.raises(DataError, match=r"line 3: expected a JSON object, got list\. One JSON object per line\."):
        list(iter_records(path))


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.CSV", "csv"), ("a.tsv", "csv"), ("a.ndjson", "jsonl"), ("a.json", "jsonl"), ("a.pq", "parquet")],
)
def test_rows_format_comes_from_the_suffix(name: str, expected: str) -> None:
    assert detect_format(Path(name)) == expected


def test_rows_unknown_suffix_and_missing_or_directory_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r'unknown file type "\.xlsx"\. Use a \.csv, \.jsonl or \.parquet file\.'):
        detect_format(Path("a.xlsx"))
    with pytest.raises(DataError, match=r"does not exist\. Check the path\."):
        list(iter_numbered(tmp_path / "missing.csv"))
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(DataError, match=r"does not exist\. It is a directory\. Check the path\."):
        list(iter_numbered(tmp_path / "dir.csv"))


def test_rows_non_utf8_bytes_are_located(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"not valid UTF-8 \(line 2, byte 0xe9 at column 14\)"):
        list(iter_numbered(path))


def test_rows_parquet_rows_are_numbered_from_one(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "label": ["x", "y"]}), path)
    assert [(n, r) for n, r, _ in iter_numbered(path)] == [
        (1, {"text": "a", "label": "x"}),
        (2, {"text": "b", "label": "y"}),
    ]
    path.write_bytes(b"not parquet")
    with pytest.raises(DataError):
        list(iter_numbered(path))


def test_rows_an_oversized_csv_field_names_its_row_and_the_limit(tmp_path: Path) -> None:
    import csv

    path = tmp_path / "d.csv"
    limit = csv.field_size_limit()
    path.write_text(f"text,label\nfine,a\nalso fine,b\n{'x' * (limit + 1)},c\n", encoding="utf-8")
    rows = iter_numbered(path)
    assert [r[1]["text"] for r in (next(rows), next(rows)) if r[1]] == ["fine", "also fine"]
    with pytest.raises(DataError) as caught:
        next(rows)
    assert str(caught.value) == (
        f'"{path}" row 3: a field longer than {limit} characters (the CSV field size limit). '
        "Shorten that text or remove the row."
    )
