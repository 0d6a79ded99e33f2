"""Language detection: accuracy on the bundled multilingual test sets, ``und`` for texts too short to tell."""

from __future__ import annotations

import pytest

from nlpops.data import Dataset
from nlpops.errors import RuntimeLoadError
from nlpops.languages import UND, LanguageDetector, normalize_lang


@pytest.mark.parametrize(("which", "minimum"), [("sib", 0.99), ("xed", 0.9)])
def test_detector_accuracy_on_bundled_test_sets(
    which: str, minimum: float, sib_test: Dataset, xed_test: Dataset
) -> None:
    test = sib_test if which == "sib" else xed_test
    langs = test.langs or []
    detector = LanguageDetector(sorted(set(langs)))
    found = detector.detect_many(test.texts)
    accuracy = sum(f == g for f, g in zip(found, langs, strict=True)) / len(langs)
    assert accuracy >= minimum


@pytest.mark.parametrize("text", ["", "   ", "😀🎉", "12345", "3.14 + 2 = 5.14", "?!", "ok"])
def test_detector_gives_und_without_enough_letters(text: str) -> None:
    assert LanguageDetector(["en", "de"]).detect(text) == UND
    assert LanguageDetector().detect(text) == UND


def test_detector_reports_a_clear_foreign_language() -> None:
    detector = LanguageDetector(["en", "de"])
    assert detector.detect("안녕하세요 오늘 날씨가 정말 좋네요") == "ko"
    assert detector.detect("Guten Morgen, wie geht es Ihnen heute?") == "de"


def test_detector_rejects_unknown_language_codes() -> None:
    with pytest.raises(RuntimeLoadError, match="does not know xx"):
        LanguageDetector(["en", "xx"])


@pytest.mark.parametrize(("code", "expected"), [("de-DE", "de"), ("EN", "en"), (" pt_BR ", "pt"), ("", UND)])
def test_normalize_lang(code: str, expected: str) -> None:
    assert normalize_lang(code) == expected
