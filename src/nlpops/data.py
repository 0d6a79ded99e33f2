"""Reading labelled text datasets (CSV, JSONL, Parquet), deterministic splits and fingerprints.

A dataset has a task (:mod:`nlpops.tasks`): CSV files hold classification data; JSON lines and Parquet files
may hold any task's answers in the labelling tools' formats (:mod:`nlpops.annotations`), and the task is
inferred from the fields unless given. Rows that cannot be used (a malformed line, an empty label list,
offsets outside the text, overlapping spans, a value of the wrong type) are counted and reported with their
line numbers; reading refuses the file unless asked to skip them (``skip_bad_rows``), and even then the
dataset lists them (``Dataset.skipped``): never silently.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nlpops.annotations import Answer, answer_fields, answer_labels, infer_task, read_answer
from nlpops.errors import DataError
from nlpops.language_codes import UND, CodeMapping, normalize_codes, read_language, report_codes
from nlpops.rows import detect_format, iter_numbered, iter_records
from nlpops.tasks import TASK_NAMES, Span, TaskName

DATASETS_DIR = Path(__file__).parent / "datasets"
FORMATS = ("csv", "jsonl", "parquet")


@dataclass(frozen=True)
class BadRow:
    """A row that cannot be used, where it is (line of a CSV or JSON lines file, row of a Parquet file) and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class Dataset:
    """Texts with their gold answers (and optionally languages and ids), read from ``source``.

    The answers depend on the :attr:`task`: ``labels`` (one label per text: classification, and the optional
    labels of an embedding dataset), ``label_sets`` (multilabel: the sorted, distinct labels of each text) or
    ``spans`` (entities: each text's spans, sorted). :attr:`answers` gives the task's own list.
    ``skipped`` lists the bad rows left out when reading with ``skip_bad_rows``. Languages are normalised
    codes (:func:`nlpops.language_codes.normalize_lang`); ``lang_codes`` says how the file wrote them.
    """

    texts: list[str]
    labels: list[str]
    langs: list[str] | None = None
    source: str = "<memory>"
    ids: list[str] | None = field(default=None, compare=False)
    task: TaskName = "classification"
    label_sets: list[tuple[str, ...]] | None = None
    spans: list[tuple[Span, ...]] | None = None
    skipped: tuple[BadRow, ...] = field(default=(), compare=False)
    lang_codes: CodeMapping | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def answers(self) -> Sequence[Answer]:
        """The gold answer of each text in the task's form (labels, label sets or spans)."""
        if self.task == "multilabel":
            return self.label_sets or []
        if self.task == "entities":
            return self.spans or []
        return self.labels

    def label_names(self) -> list[str]:
        """Every label the answers name, sorted (entity types for entities)."""
        return sorted({label for answer in self.answers for label in answer_labels(self.task, answer)})

    def subset(self, indices: Sequence[int]) -> Dataset:
        """The rows at ``indices``, in that order."""

        def pick(values: list[Any] | None) -> Any:
            return None if values is None else [values[i] for i in indices]

        return replace(
            self,
            texts=pick(self.texts),
            labels=pick(self.labels) if self.labels else [],
            langs=pick(self.langs),
            ids=pick(self.ids),
            label_sets=pick(self.label_sets),
            spans=pick(self.spans),
        )

    def concat(self, other: Dataset) -> Dataset:
        """This dataset followed by ``other`` (languages kept only if both have them).

        Raises:
            DataError: the two datasets are of different tasks.
        """
        if other.task != self.task:
            raise DataError(
                f'"{self.source}" is {self.task} data and "{other.source}" {other.task} data; they cannot be joined.'
            )

        def join(a: list[Any] | None, b: list[Any] | None) -> Any:
            return a + b if a is not None and b is not None else None

        return Dataset(
            self.texts + other.texts,
            self.labels + other.labels,
            join(self.langs, other.langs),
            f"{self.source}+{other.source}",
            task=self.task,
            label_sets=join(self.label_sets, other.label_sets),
            spans=join(self.spans, other.spans),
        )


def is_classifiable(text: str) -> bool:
    """The one rule for which texts nlpops classifies, in every path (serve, batch, predict, evaluate).

    Any string with at least one character is a text, whitespace-only ones included: they are answered
    like any other (a model sees them as they are; the language router sends them to the fallback). The
    empty string is not: there is nothing to classify (serve: 422, batch: a rejected row, predict and
    evaluate: an error naming it).
    """
    return len(text) > 0


def detect_task(path: Path | str, label_column: str = "label") -> TaskName:
    """The task a data file is labelled for, from its first record that tells (:func:`nlpops.annotations.infer_task`).

    CSV files hold classification data. Raises DataError like :func:`iter_numbered`.
    """
    path = Path(path)
    if detect_format(path) == "csv":
        return "classification"
    for _line, record, _reason in iter_numbered(path):
        if record is not None:
            task = infer_task(record, label_column)
            if task is not None:
                return task
    return "classification"


def read_dataset(
    path: Path | str,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    lang_column: str | None = "lang",
    id_column: str | None = None,
    task: str | None = None,
    skip_bad_rows: bool = False,
) -> Dataset:
    """Read a labelled dataset. ``lang_column`` is used only if present; ``label_column=None`` reads texts only.

    Args:
        path: a CSV, JSON lines or Parquet file.
        text_column: the field holding the text.
        label_column: the field holding a classification label (multilabel and entity answers are looked for
            in their labelling-tool fields first: ``labels``, ``entities``); None: texts only.
        lang_column: the field holding each text's language, if present.
        id_column: the field holding each row's id.
        task: the task the answers are for; None: inferred from the data (:func:`detect_task`).
        skip_bad_rows: leave unusable rows out (listed in ``Dataset.skipped``) instead of refusing the file.

    Raises:
        DataError: missing file or column, empty file, non-UTF-8 bytes, an unknown task, or bad rows (each
            counted, the first named with its line number) without ``skip_bad_rows``.
    """
    path = Path(path)
    if task is not None and task not in TASK_NAMES:
        raise DataError(f'Unknown task "{task}". Known tasks: {", ".join(TASK_NAMES)}.')
    kind: TaskName = task if task is not None else detect_task(path, label_column or "label")
    rows = _Rows()
    fields: tuple[str, ...] = ()
    columns: list[str] | None = None
    has_lang = False
    for line, record, reason in iter_numbered(path):
        if record is None:
            rows.bad.append(BadRow(line, reason or "unreadable"))
            continue
        if columns is None:
            columns = list(record)
            fields = answer_fields(kind, label_column) if label_column else ()
            if kind == "embedding" and not any(f in record for f in fields):
                fields = ()  # an embedding model's texts need no labels (they label its evaluation only)
            required = [c for c in (text_column, id_column) if c]
            if fields and not any(f in record for f in fields) and kind != "entities":
                required.append(fields[0])
            missing = [c for c in required if c not in record]
            if missing:
                raise DataError(
                    f'"{path}" has no column "{missing[0]}" (columns: {", ".join(columns)}). '
                    "Set data.text_column / data.label_column in nlpops.yaml or pass --text-column/--label-column."
                )
            has_lang = bool(lang_column) and lang_column in record
        rows.add(line, record, kind, text_column, fields, lang_column if has_lang else None, id_column)
    if rows.bad and not skip_bad_rows:
        raise DataError(
            f'"{path}": {_bad_rows_summary(rows.bad, path)}. Fix them, or pass --skip-bad-rows to leave bad rows out.'
        )
    if not rows.texts:
        raise DataError(f'"{path}" is empty: it has no data rows. Provide a file with a header and at least 2 rows.')
    return Dataset(
        rows.texts,
        rows.labels if kind not in ("multilabel", "entities") else [],
        rows.langs if has_lang else None,
        str(path),
        rows.ids if id_column else None,
        task=kind,
        label_sets=rows.label_sets if kind == "multilabel" and fields else None,  # no fields: texts only
        spans=rows.spans if kind == "entities" and fields else None,
        skipped=tuple(rows.bad),
        lang_codes=report_codes(str(path), rows.raw_langs) if has_lang else None,
    )


def normalize_languages(dataset: Dataset) -> Dataset:
    """``dataset`` with normalised language codes (as :func:`read_dataset` gives them; data built in memory may
    not have them), merged codes warned about.

    Raises:
        DataError: a code is not a language code (two or three letters once normalised).
    """
    if dataset.langs is None or dataset.lang_codes is not None:
        return dataset
    langs, mapping = normalize_codes(dataset.source, dataset.langs)
    return replace(dataset, langs=langs, lang_codes=mapping)


@dataclass
class _Rows:
    """The good rows of a file as they are read, and the bad ones."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    label_sets: list[tuple[str, ...]] = field(default_factory=list)
    spans: list[tuple[Span, ...]] = field(default_factory=list)
    langs: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    raw_langs: set[str] = field(default_factory=set)
    """Every language code as the file wrote it (for the mapping report)."""

    def add(
        self,
        line: int,
        record: dict[str, Any],
        task: TaskName,
        text_column: str,
        fields: tuple[str, ...],
        lang_column: str | None,
        id_column: str | None,
    ) -> None:
        text, reason = _as_text(record.get(text_column), text_column, strict=task != "classification")
        if reason is None and not is_classifiable(text):
            reason = f'empty text in field "{text_column}"'
        answer: Answer | None = None
        lang = ""
        if reason is None and lang_column:
            lang, reason = read_language(record.get(lang_column), lang_column)
        if reason is None and fields:
            field_name = next((f for f in fields if f in record), fields[0])
            answer, reason = read_answer(task, record.get(field_name), text)
            if reason is not None and task == "classification":
                reason = reason.replace("the label field", f'label column "{field_name}"')
        if reason is not None:
            self.bad.append(BadRow(line, reason))
            return
        self.texts.append(text)
        if isinstance(answer, str):
            self.labels.append(answer)
        elif answer is None:  # texts only
            pass
        elif task == "multilabel":
            self.label_sets.append(answer)  # type: ignore[arg-type]
        elif task == "entities":
            self.spans.append(answer)  # type: ignore[arg-type]
        if lang_column:
            raw = str(record.get(lang_column) or "").strip()
            self.raw_langs.add(raw or UND)
            self.langs.append(lang)
        if id_column:
            self.ids.append(str(record.get(id_column)))


def _as_text(value: Any, column: str, *, strict: bool) -> tuple[str, str | None]:
    if value is None:
        return "", (f'no text in field "{column}"' if strict else None)
    if isinstance(value, str):
        return value, None
    if isinstance(value, int | float) and not isinstance(value, bool) and not strict:
        return str(value), None
    return "", f'field "{column}" holds {type(value).__name__}, not text'


def _bad_rows_summary(bad: Sequence[BadRow], path: Path) -> str:
    unit = "row" if detect_format(path) == "parquet" else "line"
    shown = "; ".join(f"{unit} {row.line}: {row.reason}" for row in bad[:3])
    more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
    if len(bad) == 1:
        return f"1 bad row ({shown})"
    lines = ", ".join(str(row.line) for row in bad[:20]) + (", ..." if len(bad) > 20 else "")
    return f"{len(bad)} bad rows ({shown}{more}; {unit}s {lines})"


def check_trainable(dataset: Dataset) -> None:
    """Refuse a dataset that cannot train its task's model.

    classification: one label only, or a label with fewer than 2 rows. multilabel: fewer than 2 labels, a label
    on fewer than 2 texts, or a label on every text (nothing to tell it from). entities: no entity at all.
    embedding: anything (an encoder is used as it is; its texts are reference texts).
    """
    if dataset.task == "embedding":
        return
    if dataset.task == "multilabel":
        _check_multilabel(dataset)
        return
    if dataset.task == "entities":
        if not any(dataset.spans or []):
            raise DataError(f'"{dataset.source}" has no entities at all; an entity model needs labelled spans.')
        return
    counts = Counter(dataset.labels)
    if len(counts) < 2:
        only = next(iter(counts), "<none>")
        raise DataError(
            f'"{dataset.source}" has a single label ("{only}"); a classifier needs at least 2 labels. '
            "Check the label column."
        )
    _refuse_rare(dataset.source, counts)


def _refuse_rare(source: str, counts: Counter[str]) -> None:
    rare = sorted(label for label, n in counts.items() if n < 2)
    if rare:
        shown = ", ".join(f'"{x}"' for x in rare[:5]) + (f" and {len(rare) - 5} more" if len(rare) > 5 else "")
        raise DataError(
            f'"{source}": label {shown} has fewer than 2 examples. '
            "Add examples or remove those rows (each label needs at least 2)."
        )


def _check_multilabel(dataset: Dataset) -> None:
    counts = Counter(label for labels in dataset.label_sets or [] for label in labels)
    if len(counts) < 2:
        raise DataError(
            f'"{dataset.source}" names {len(counts)} label(s); a multi-label model needs at least 2. '
            "Check the labels field."
        )
    _refuse_rare(dataset.source, counts)
    everywhere = sorted(label for label, n in counts.items() if n == len(dataset))
    if everywhere:
        raise DataError(
            f'"{dataset.source}": label "{everywhere[0]}" is on every text, so a model cannot learn when it is '
            "absent. Remove it or add texts without it."
        )


def split_dataset(dataset: Dataset, test_size: float = 0.2, seed: int = 42) -> tuple[Dataset, Dataset]:
    """Deterministic split into (train, test): stratified by label for classification, random otherwise.

    Raises:
        DataError: some label is too rare to appear on both sides (classification), or the data cannot train.
    """
    check_trainable(dataset)
    from sklearn.model_selection import train_test_split

    indices = list(range(len(dataset)))
    stratify = dataset.labels if dataset.task == "classification" else None
    try:
        train_idx, test_idx = train_test_split(indices, test_size=test_size, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise DataError(
            f'"{dataset.source}" cannot be split with test_size={test_size}: {exc}. '
            "Pass a separate --test file or change data.test_size."
        ) from exc
    return dataset.subset(sorted(train_idx)), dataset.subset(sorted(test_idx))


def fingerprint(dataset: Dataset) -> dict[str, Any]:
    """Content hash, row count, label counts and language counts of a dataset.

    Classification data hashes as it always has; other tasks hash each text with its answer (labels, or
    ``[start, end, label]`` per span) and the task.
    """
    digest = hashlib.sha256()
    langs: Iterable[str] = dataset.langs if dataset.langs is not None else [""] * len(dataset)
    answers: Sequence[Any] = dataset.answers if len(dataset.answers) == len(dataset) else [""] * len(dataset)
    for text, answer, lang in zip(dataset.texts, answers, langs, strict=True):
        if dataset.task == "classification":
            item: list[Any] = [text, answer, lang]
        elif dataset.task == "entities":
            item = [text, [[s.start, s.end, s.label] for s in answer], lang, dataset.task]
        else:
            item = [text, list(answer) if isinstance(answer, tuple) else answer, lang, dataset.task]
        digest.update(json.dumps(item, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    label_counts = Counter(label for answer in dataset.answers for label in answer_labels(dataset.task, answer))
    return {
        "sha256": digest.hexdigest(),
        "rows": len(dataset),
        "label_counts": dict(sorted(label_counts.items())),
        "languages": dict(sorted(Counter(dataset.langs).items())) if dataset.langs is not None else {},
    }


def bundled_dataset(name: str, split: str = "train") -> Path:
    """Path of a dataset shipped with nlpops (banking77, sms_spam, sib200, xed_emotion; ``.jsonl`` for
    xed_multilabel)."""
    directory = DATASETS_DIR / name
    path = next(
        (directory / f"{split}{suffix}" for suffix in (".csv", ".jsonl") if (directory / f"{split}{suffix}").is_file()),
        None,
    )
    if path is None:
        known = sorted(p.name for p in DATASETS_DIR.iterdir() if p.is_dir())
        raise DataError(f'No bundled dataset "{name}" with split "{split}" (known: {", ".join(known)}).')
    return path


__all__ = [
    "DATASETS_DIR",
    "FORMATS",
    "BadRow",
    "Dataset",
    "bundled_dataset",
    "check_trainable",
    "detect_format",
    "detect_task",
    "fingerprint",
    "is_classifiable",
    "iter_numbered",
    "iter_records",
    "normalize_languages",
    "read_dataset",
    "split_dataset",
]
