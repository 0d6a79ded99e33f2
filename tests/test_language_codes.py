"""Language codes: one normal form (case, region and script subtags, ISO 639-3/639-2 equivalents), applied at
data loading, with the mapping reported and merged codes warned about."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nlpops.data import Dataset, normalize_languages, read_dataset
from nlpops.errors import DataError
from nlpops.language_codes import EQUIVALENTS, UND, is_language_code, map_codes, normalize_lang


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("de-DE", "de"),
        ("EN", "en"),
        (" pt_BR ", "pt"),
        ("", UND),
        ("JV", "jv"),
        ("jv-ID", "jv"),
        ("jav", "jv"),
        ("srd", "sc"),  # Sardinian: ISO 639-3 srd, ISO 639-1 sc
        ("ger", "de"),  # ISO 639-2/B
        ("deu", "de"),
        ("zh_Hant", "zh"),
        ("cmn", "zh"),
        ("iw", "he"),
        ("fur", "fur"),  # no two-letter code: kept
        ("LMO-IT", "lmo"),
        ("und", UND),
    ],
)
def test_normalize_lang(code: str, expected: str) -> None:
    assert normalize_lang(code) == expected


def test_equivalents_map_onto_two_letter_codes_only() -> None:
    assert len(EQUIVALENTS) > 200
    assert all(len(code) == 2 and code.isalpha() and code.islower() for code in EQUIVALENTS.values())
    assert all(code not in EQUIVALENTS for code in EQUIVALENTS.values())  # one step: normal forms stay put


_subtag = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=3)


@given(base=_subtag, region=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=0, max_size=4))
def test_normal_form_ignores_case_and_subtags_and_is_idempotent(base: str, region: str) -> None:
    code = normalize_lang(base)
    assert normalize_lang(base.upper()) == code == normalize_lang(base.lower())
    assert normalize_lang(f"{base}-{region}") == code == normalize_lang(f" {base}_{region} ")
    assert normalize_lang(code) == code
    assert is_language_code(code)


@given(st.text(max_size=12))
def test_normalize_never_fails(code: str) -> None:
    assert isinstance(normalize_lang(code), str)


def test_map_codes_reports_renamed_and_merged_codes() -> None:
    mapping = map_codes(["JV", "jv", "jv-ID", "srd", "fur"])
    assert mapping.renamed == {"JV": "jv", "jv-ID": "jv", "srd": "sc"}
    assert mapping.merged == {"jv": ["JV", "jv", "jv-ID"]}
    assert "merged JV, jv, jv-ID as jv" in mapping.describe() and "srd -> sc" in mapping.describe()


def _csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    lines = ["text,label,lang", *(f"{t},{label},{lang}" for t, label, lang in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_read_dataset_normalises_codes_once_and_warns_about_merged_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [("Aku mangan sega", "food", "JV"), ("Aku ngombe banyu", "food", "jv-ID"), ("Sugeng enjing", "greet", "jv")]
    rows += [("Bonu die", "greet", "srd"), ("Bon dì", "greet", "fur"), ("no language", "greet", "")]
    with caplog.at_level(logging.WARNING, logger="nlpops.data"):
        data = read_dataset(_csv(tmp_path / "d.csv", rows))
    assert data.langs == ["jv", "jv", "jv", "sc", "fur", UND]
    assert data.lang_codes is not None and data.lang_codes.merged == {"jv": ["JV", "jv", "jv-ID"]}
    assert data.lang_codes.renamed == {"JV": "jv", "jv-ID": "jv", "srd": "sc"}
    warned = [r.getMessage() for r in caplog.records if r.name == "nlpops.data"]
    assert len(warned) == 1 and "JV, jv, jv-ID" in warned[0] and '"jv"' in warned[0]
    assert normalize_languages(data) is data  # once: a loaded dataset is not normalised again


def test_read_dataset_refuses_a_value_that_is_not_a_language_code(tmp_path: Path) -> None:
    path = _csv(tmp_path / "d.csv", [("hello there", "a", "en"), ("bonjour", "b", "../x"), ("hi", "a", "english")])
    with pytest.raises(DataError) as caught:
        read_dataset(path)
    message = caught.value.message
    assert "line 3" in message and "'../x'" in message and "not a language code" in message
    assert "--skip-bad-rows" in message
    skipped = read_dataset(path, skip_bad_rows=True)
    assert skipped.langs == ["en"] and len(skipped.skipped) == 2


def test_normalize_languages_of_data_built_in_memory(caplog: pytest.LogCaptureFixture) -> None:
    data = Dataset(["a b c", "d e f", "g h i"], ["x", "y", "x"], ["PL", "pl-PL", "szl"], source="<mem>")
    with caplog.at_level(logging.WARNING, logger="nlpops.data"):
        normal = normalize_languages(data)
    assert normal.langs == ["pl", "pl", "szl"]
    assert "PL, pl-PL" in caplog.text
    with pytest.raises(DataError, match="'x/y' is not a language code"):
        normalize_languages(Dataset(["a"], ["x"], ["x/y"]))
