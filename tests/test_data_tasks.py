"""Reading multi-label and entity data in the labelling tools' JSON lines formats: the task is inferred, bad rows
are counted with their line numbers and refused (or skipped on request, and listed), never silently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlpops.data import detect_task, read_dataset, split_dataset
from nlpops.errors import DataError
from nlpops.tasks import Span


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_data_multilabel_jsonl_is_read_as_sorted_distinct_label_sets(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "ml.jsonl",
        [{"text": "a", "labels": ["joy", "trust", "joy"]}, {"text": "b", "labels": ["anger"]}],
    )
    data = read_dataset(path)
    assert data.task == "multilabel" and detect_task(path) == "multilabel"
    assert data.label_sets == [("joy", "trust"), ("anger",)] and data.labels == []
    assert data.label_names() == ["anger", "joy", "trust"]
    assert data.answers == data.label_sets


def test_data_doccano_label_lists_are_multilabel_or_entities(tmp_path: Path) -> None:
    multi = _write(tmp_path / "m.jsonl", [{"text": "hi", "label": []}, {"text": "yo", "label": ["a", "b"]}])
    spans = _write(tmp_path / "e.jsonl", [{"text": "Paris is big", "label": [[0, 5, "LOC"]]}])
    assert detect_task(multi) == "multilabel"  # the empty list does not tell; the next row does
    assert detect_task(spans) == "entities"
    assert read_dataset(spans).spans == [(Span(0, 5, "LOC"),)]


def test_data_entities_jsonl_reads_triples_and_objects_sorted(tmp_path: Path) -> None:
    text = "Anna flew to Paris on Monday"
    path = _write(
        tmp_path / "ner.jsonl",
        [
            {"text": text, "entities": [[13, 18, "LOC"], {"start": 0, "end": 4, "label": "PER"}]},
            {"text": "nothing here", "entities": []},
        ],
    )
    data = read_dataset(path)
    assert data.task == "entities"
    assert data.spans == [(Span(0, 4, "PER"), Span(13, 18, "LOC")), ()]
    assert [s.text_of(text) for s in data.spans[0]] == ["Anna", "Paris"]
    assert data.label_names() == ["LOC", "PER"]


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ({"text": "abc", "labels": []}, "label list is empty"),
        ({"text": "abc", "labels": "joy"}, "must be a list of strings"),
        ({"text": "abc", "labels": ["joy", 3]}, "non-empty string, got a number"),
        ({"text": 7, "labels": ["joy"]}, 'field "text" holds int'),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_data_multilabel_bad_rows_are_refused_with_line_numbers(tmp_path: Path, row: Any, fragment: str) -> None:
    good = {"text": "fine", "labels": ["joy"]}
    path = _write(tmp_path / "bad.jsonl", [good, good, row, good])
    with pytest.raises(DataError, match="1 bad row") as info:
        read_dataset(path, task="multilabel")
    message = str(info.value)
    assert "line 3: " in message and fragment in message and "--skip-bad-rows" in message and "\n" not in message


@pytest.mark.parametrize(
    ("entities", "fragment"),
    [
        ([[0, 99, "LOC"]], "outside the text of 12 characters"),
        ([[-1, 3, "LOC"]], "outside the text"),
        ([[4, 4, "LOC"]], "outside the text"),
        ([[0, 5, "LOC"], [3, 8, "PER"]], "overlapping entities [0, 5) LOC and [3, 8) PER"),
        ([[0, 5]], "expected [start, end, label]"),
        ([["0", 5, "LOC"]], "must be integers"),
        ([[0.0, 5, "LOC"]], "must be integers"),
        ([[True, 5, "LOC"]], "must be integers"),
        ([[0, 5, ""]], "non-empty string"),
        ("LOC", "must be a list"),
    ],
)
def test_data_entity_bad_rows_are_refused(tmp_path: Path, entities: Any, fragment: str) -> None:
    path = _write(
        tmp_path / "bad.jsonl",
        [{"text": "Paris France", "entities": [[0, 5, "LOC"]]}, {"text": "Paris France", "entities": entities}],
    )
    with pytest.raises(DataError) as info:
        read_dataset(path)
    assert "line 2: " in str(info.value) and fragment in str(info.value)


def test_data_skip_bad_rows_keeps_the_good_ones_and_lists_the_bad(tmp_path: Path) -> None:
    rows: list[Any] = [{"text": f"t{i}", "labels": ["a"] if i % 2 else ["b"]} for i in range(6)]
    rows[1] = {"text": "x", "labels": []}
    rows[4] = "oops"
    path = _write(tmp_path / "d.jsonl", rows)
    with pytest.raises(DataError, match=r"2 bad rows .*lines 2, 5\)"):
        read_dataset(path)
    data = read_dataset(path, skip_bad_rows=True)
    assert data.texts == ["t0", "t2", "t3", "t5"]
    assert [(row.line, row.reason.split(" (")[0]) for row in data.skipped] == [
        (2, "the label list is empty"),
        (5, "not valid JSON"),
    ]


def test_data_texts_only_of_multilabel_and_entity_files_carry_no_answers(tmp_path: Path) -> None:
    """``label_column=None`` (reference texts, e.g. ``nlpops package --data``) reads the texts of any task's file."""
    from nlpops.data import fingerprint

    ml = _write(tmp_path / "ml.jsonl", [{"text": "a", "labels": ["joy"]}, {"text": "b", "labels": ["anger"]}])
    ents = _write(tmp_path / "ents.jsonl", [{"text": "Alice flew", "entities": [[0, 5, "person"]]}, {"text": "b"}])
    for path in (ml, ents):
        data = read_dataset(path, label_column=None)
        assert data.texts == (["a", "b"] if path == ml else ["Alice flew", "b"])
        assert (data.label_sets, data.spans, list(data.answers)) == (None, None, [])
        assert fingerprint(data)["rows"] == 2


def test_data_unknown_task_and_mismatched_fields_are_clear(tmp_path: Path) -> None:
    path = _write(tmp_path / "ml.jsonl", [{"text": "a", "labels": ["x"]}])
    with pytest.raises(DataError, match='Unknown task "sentiment"'):
        read_dataset(path, task="sentiment")
    with pytest.raises(DataError, match='no column "label"'):
        read_dataset(path, task="classification")


def test_data_classification_csv_still_reads_and_reports_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("text,label\nhello,greet\nbye,\nyo,greet\n", encoding="utf-8")
    with pytest.raises(DataError, match='line 3: empty value in label column "label"'):
        read_dataset(path)
    data = read_dataset(path, skip_bad_rows=True)
    assert (data.task, data.texts, data.labels) == ("classification", ["hello", "yo"], ["greet", "greet"])


def test_data_multilabel_split_and_trainability(tmp_path: Path) -> None:
    rows = [
        {"text": f"text {i}", "labels": ["a", "b"] if i % 3 == 0 else ["a"] if i % 3 == 1 else ["c"]} for i in range(30)
    ]
    data = read_dataset(_write(tmp_path / "d.jsonl", rows))
    train, test = split_dataset(data, 0.2, 42)
    assert len(train) + len(test) == 30 and train.task == test.task == "multilabel"
    assert sorted(train.texts + test.texts) == sorted(data.texts)
    assert train.label_sets is not None and len(train.label_sets) == len(train)
    everywhere = read_dataset(
        _write(tmp_path / "e.jsonl", [{"text": f"t{i}", "labels": ["a", "b" if i % 2 else "c"]} for i in range(4)])
    )
    with pytest.raises(DataError, match='label "a" is on every text'):
        split_dataset(everywhere)


_label = st.sampled_from(["joy", "anger", "trust", "fear", "sadness"])
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)


@st.composite
def _entity_row(draw: st.DrawFn) -> dict[str, Any]:
    text = draw(_text)
    cuts = sorted(set(draw(st.lists(st.integers(0, len(text)), max_size=6))))
    spans = [[a, b, draw(_label)] for a, b in zip(cuts[::2], cuts[1::2], strict=False) if a < b]
    return {"text": text, "entities": spans}


_corruptions = st.sampled_from(["not json {", "[]", '{"text": "x", "entities": [[0, 9, "LOC"]]}', '{"text": 3}'])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(_entity_row(), min_size=1, max_size=12),
    bad=st.lists(st.tuples(st.integers(0, 12), _corruptions), max_size=4),
    blank_every=st.integers(2, 5),
)
def test_data_entity_reader_round_trips_and_counts_every_bad_line(
    tmp_path: Path, rows: list[dict[str, Any]], bad: list[tuple[int, str]], blank_every: int
) -> None:
    lines: list[str] = [json.dumps(r, ensure_ascii=False) for r in rows]
    for position, corruption in sorted(bad, reverse=True):
        lines.insert(min(position, len(lines)), corruption)
    physical: list[str] = []
    for i, line in enumerate(lines):
        if i and i % blank_every == 0:
            physical.append("")  # blank lines are no rows, but they count for line numbers
        physical.append(line)
    path = tmp_path / "prop.jsonl"
    path.write_text("\n".join(physical) + "\n", encoding="utf-8")
    bad_lines = [n for n, line in enumerate(physical, start=1) if line in {c for _, c in bad}]
    data = read_dataset(path, task="entities", skip_bad_rows=True)
    assert [row.line for row in data.skipped] == bad_lines
    assert data.texts == [r["text"] for r in rows]
    assert data.spans == [tuple(Span(a, b, label) for a, b, label in r["entities"]) for r in rows]
    if bad_lines:
        with pytest.raises(DataError, match=f"{len(bad_lines)} bad row"):
            read_dataset(path, task="entities")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=8,
    )
)
def test_data_any_labels_value_is_a_row_or_a_reason(tmp_path: Path, value: Any) -> None:
    path = _write(tmp_path / "any.jsonl", [{"text": "ok", "labels": ["a"]}, {"text": "abc", "labels": value}])
    try:
        data = read_dataset(path, task="multilabel", skip_bad_rows=True)
    except DataError as exc:  # only a clear error may escape
        raise AssertionError(f"skip_bad_rows must not refuse: {exc}") from exc
    assert len(data) + len(data.skipped) == 2
    assert all(
        isinstance(labels, tuple) and labels and all(isinstance(x, str) for x in labels)
        for labels in data.label_sets or []
    )
