"""Bad rows go to the rejects file with their reason; the run goes on and the counts add up."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from batch_support import read_csv_rows

from nlpops.batch import BatchOptions, run_batch
from nlpops.batch.records import RecordSource
from nlpops.bundle import Bundle


def _run(bundle: Bundle, source: Path, out: Path, **kwargs: object) -> tuple[list[dict[str, str]], object]:
    result = run_batch(bundle.path, BatchOptions(source, out, workers=0, chunk_rows=3, **kwargs))  # type: ignore[arg-type]
    return read_csv_rows(out.with_name(f"{out.stem}.rejects.csv")), result


def test_batch_csv_rejects_every_bad_row_with_reason(tiny_bundle: Bundle, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(
        b"id,text\n"
        b"a,my card has not arrived\n"
        b"b,\n"  # empty text
        b"c,   \n"  # whitespace only: answered (nlpops.data.is_classifiable)
        b"d\n"  # missing value
        b"e,caf\xe9 au lait refund\n"  # latin-1, not UTF-8
        b",what is the exchange rate\n"  # missing id
        b'f,"a quoted, multi\nline text about a transfer"\n'
        b"\xff\xfe,bad id bytes\n"
        b"g,I lost my card\n"
    )
    rejects, result = _run(tiny_bundle, source, tmp_path / "out.csv", id_column="id")
    assert [(r["row"], r["id"], r["reason"]) for r in rejects] == [
        ("2", "b", 'empty text in column "text"'),
        ("4", "d", 'missing value in column "text"'),
        ("5", "e", 'undecodable bytes (not UTF-8) in column "text"'),
        ("6", "", 'missing value in id column "id"'),
        ("8", "", 'undecodable bytes (not UTF-8) in id column "id"'),
    ]
    assert [r["id"] for r in read_csv_rows(tmp_path / "out.csv")] == ["a", "c", "f", "g"]
    assert (result.read, result.written, result.rejected) == (9, 4, 5)  # type: ignore[attr-defined]


def test_batch_jsonl_rejects_malformed_lines(tiny_bundle: Bundle, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(
        b'{"text": "my card has not arrived", "n": 1}\n'
        b"{not json}\n"
        b'{"text": "caf\xe9"}\n'
        b"[1, 2]\n"
        b"\n"
        b'{"other": "no text key"}\n'
        b'{"text": {"nested": true}}\n'
        b'{"text": 12345}\n'
        b'{"text": null}\n'
    )
    rejects, result = _run(tiny_bundle, source, tmp_path / "out.csv")
    reasons = {int(r["row"]): r["reason"] for r in rejects}
    assert reasons[2].startswith("not valid JSON")
    assert reasons[3] == "undecodable bytes (not UTF-8)"
    assert reasons[4] == "expected a JSON object, got list"
    assert reasons[5] == 'missing value in column "text"'
    assert reasons[6] == 'column "text" holds a dict, not text'
    assert reasons[8] == 'missing value in column "text"'
    assert sorted(reasons) == [2, 3, 4, 5, 6, 8]
    assert [int(r["row"]) for r in read_csv_rows(tmp_path / "out.csv")] == [1, 7]
    assert (result.read, result.written, result.rejected) == (8, 2, 6)  # type: ignore[attr-defined]


def test_batch_parquet_rejects_nulls_and_bad_bytes(tiny_bundle: Bundle, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    table = pa.table(
        {
            "body": pa.array([b"my card is blocked", None, b"\xff\xfe", b"", b"refund please"], type=pa.binary()),
            "key": pa.array([10, 11, 12, 13, None], type=pa.int64()),
        }
    )
    pq.write_table(table, source)
    out = tmp_path / "out.jsonl"
    result = run_batch(
        tiny_bundle.path, BatchOptions(source, out, text_column="body", id_column="key", workers=0, chunk_rows=2)
    )
    rejects = [json.loads(x) for x in (tmp_path / "out.rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["row"], r["id"], r["reason"]) for r in rejects] == [
        (2, "11", 'missing value in column "body"'),
        (3, "12", 'undecodable bytes (not UTF-8) in column "body"'),
        (4, "13", 'empty text in column "body"'),
        (5, None, 'missing value in id column "key"'),
    ]
    assert [json.loads(x)["key"] for x in out.read_text(encoding="utf-8").splitlines()] == ["10"]
    assert (result.read, result.written, result.rejected) == (5, 1, 4)


def test_record_source_positions_reach_the_file_size(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("text\n" + "".join(f"row number {i}\n" for i in range(5000)), encoding="utf-8")
    records = RecordSource(source, "text", None)
    positions = []
    for row, _, _, _ in records:
        if row % 1000 == 0:
            positions.append(records.position)
    assert positions == sorted(positions) and positions[-1] <= records.total
    assert records.position == records.total == source.stat().st_size
