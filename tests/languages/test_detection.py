"""Language detection: accuracy on the bundled multilingual test sets, ``und`` for texts too short to tell."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nlpops.data import Dataset
from nlpops.errors import RuntimeLoadError
from nlpops.languages import UND, LanguageDetector, normalize_lang, routing_figures
from nlpops.languages.detection import MIN_THRESHOLD, ROUTING_PRECISION, calibrate_thresholds
from nlpops.runtimes.routing import LanguageRouting


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


def test_calibration_stops_before_a_relative_is_routed() -> None:
    # Italian detected surely; Friulian detected as Italian, less surely: the threshold falls between them
    identified = [("it", 0.99), ("it", 0.97), ("it", 0.95), ("it", 0.70), ("it", 0.65), ("fur", 0.9)]
    truth = ["it", "it", "it", "fur", "fur", "fur"]
    thresholds = calibrate_thresholds(identified, truth, ["it", "fur"])
    assert thresholds["it"] == pytest.approx((0.95 + 0.70) / 2)
    assert thresholds["fur"] == MIN_THRESHOLD  # every detection of fur was right
    # Silesian always detected as Polish, as surely as Polish itself: never route to Polish by detection
    assert calibrate_thresholds([("pl", 1.0)] * 4, ["pl", "szl", "pl", "szl"], ["pl"]) == {"pl": None}
    # a routed language without held-out texts keeps the floor; one the detector never names is never routed
    assert calibrate_thresholds([("de", 0.9)], ["de"], ["de", "en"]) == {"de": MIN_THRESHOLD, "en": MIN_THRESHOLD}
    assert calibrate_thresholds([("it", 0.9)], ["fur"], ["fur"]) == {"fur": None}


_langs = st.sampled_from(["it", "fur", "es", "und"])


class _Given:
    """An identifier that found what it was given (the thresholds alone are under test)."""

    name = "given"

    def __init__(self, found: list[tuple[str, float]]) -> None:
        self.found = found

    def identify(self, texts: object) -> list[tuple[str, float]]:
        return self.found


@given(st.lists(st.tuples(_langs, st.floats(0, 1), _langs), min_size=1, max_size=60))
def test_calibrated_routing_reaches_the_precision_on_the_calibration_data(rows: list[tuple[str, float, str]]) -> None:
    identified = [(found, p) for found, p, _ in rows]
    truth = [t for _, _, t in rows]
    routes = ["it", "fur", "es"]
    thresholds = calibrate_thresholds(identified, truth, routes)
    routing = LanguageRouting(_Given(identified), thresholds, MIN_THRESHOLD)
    for lang in routes:
        sent = [
            t for (found, p), t in zip(identified, truth, strict=True) if routing.route_of(found, p, routes) == lang
        ]
        if sent and lang in truth:
            assert sum(t == lang for t in sent) / len(sent) >= ROUTING_PRECISION
        assert thresholds[lang] is None or MIN_THRESHOLD <= thresholds[lang] <= 1  # type: ignore[operator]


def test_routing_figures_count_where_each_language_went() -> None:
    figures = routing_figures(["it", "und", "it", "fur", "und"], ["it", "it", "fur", "fur", "lij"], {"it", "fur"})
    assert figures["per_language"]["fur"] == {"rows": 2, "accuracy": 0.5, "reached": {"fur": 1, "it": 1}}
    assert figures["per_language"]["lij"]["accuracy"] == 1.0  # no model of its own: the fallback is right
    assert figures["accuracy"] == pytest.approx(3 / 5)
