from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlpops.data import Dataset, bundled_dataset, check_trainable, fingerprint, read_dataset, split_dataset
from nlpops.errors import DataError


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_data_reads_csv_jsonl_and_parquet_identically(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    source = read_dataset(bundled_dataset("sib200", "dev"))
    langs = source.langs or []
    rows = [{"text": t, "label": y, "lang": g} for t, y, g in zip(source.texts, source.labels, langs, strict=True)]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    parquet = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    for path in (jsonl, parquet):
        loaded = read_dataset(path)
        assert loaded.texts == source.texts and loaded.labels == source.labels and loaded.langs == source.langs


def test_data_keeps_na_like_strings_as_text(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.csv", b"text,label\nNA,a\nnull,b\n")
    assert read_dataset(path).texts == ["NA", "null"]


def test_data_custom_columns(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "d.csv", b"body,intent\nhello,greet\n")
    data = read_dataset(path, text_column="body", label_column="intent")
    assert (data.texts, data.labels, data.langs) == (["hello"], ["greet"], None)


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("missing.csv", None, "does not exist"),
        ("empty.csv", b"", "is empty"),
        ("header.csv", b"text,label\n", "is empty"),
        ("nocol.csv", b"body,label\nx,y\n", 'no column "text"'),
        ("latin1.csv", "text,label\ncaf\u00e9,x\n".encode("latin-1"), "not valid UTF-8 (line 2"),
        ("nolabel.csv", b"text,label\nx,\n", "empty value in label column"),
        ("bad.jsonl", b'{"text": "a", "label": "b"}\n{oops\n', "line 2: not valid JSON"),
        ("list.jsonl", b"[1, 2]\n", "expected a JSON object"),
        ("data.xlsx", b"x", 'unknown file type ".xlsx"'),
    ],
)
def test_data_bad_input_is_a_clear_error(tmp_path: Path, name: str, content: bytes | None, fragment: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=fragment.replace("(", r"\(")) as info:
        read_dataset(path)
    assert name in str(info.value)


def test_data_single_label_and_rare_label_are_refused() -> None:
    with pytest.raises(DataError, match="single label"):
        check_trainable(Dataset(["a", "b"], ["x", "x"]))
    with pytest.raises(DataError, match='label "y" has fewer than 2 examples'):
        check_trainable(Dataset(["a", "b", "c"], ["x", "x", "y"]))


def test_data_split_is_deterministic_and_stratified() -> None:
    data = read_dataset(bundled_dataset("sms_spam", "train"))
    train1, test1 = split_dataset(data, 0.25, seed=7)
    train2, test2 = split_dataset(data, 0.25, seed=7)
    assert test1.texts == test2.texts and train1.texts == train2.texts
    assert len(train1) + len(test1) == len(data)
    assert not set(test1.texts) & set(train1.texts)
    share = lambda d: d.labels.count("spam") / len(d)  # noqa: E731
    assert abs(share(test1) - share(data)) < 0.01
    _, test3 = split_dataset(data, 0.25, seed=8)
    assert test3.texts != test1.texts


def test_data_fingerprint_changes_with_content() -> None:
    data = read_dataset(bundled_dataset("banking77", "test"))
    fp = fingerprint(data)
    assert fp["rows"] == 3080 and len(fp["label_counts"]) == 77 and set(fp["label_counts"].values()) == {40}
    assert fingerprint(data) == fp
    changed = Dataset([*data.texts[:-1], data.texts[-1] + "!"], data.labels)
    assert fingerprint(changed)["sha256"] != fp["sha256"]


def test_data_texts_only_dataset_subsets_and_fingerprints() -> None:
    texts = read_dataset(bundled_dataset("banking77", "test"), label_column=None)
    assert texts.labels == []
    part = texts.subset([0, 5, 7])
    assert part.texts == [texts.texts[i] for i in (0, 5, 7)] and part.labels == []
    assert fingerprint(part)["rows"] == 3
