"""The router runtime: routed predictions equal each language's bundle called directly; odd texts go to the fallback."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from nlpops.bundle import Bundle
from nlpops.data import Dataset
from nlpops.errors import BundleError, RuntimeLoadError
from nlpops.languages import UND, RouterPredictor, sub_bundle_paths
from nlpops.runtimes import RoutingDecision, load_predictor

ODD_TEXTS = [
    "",  # empty
    "   \t ",  # empty after trim
    "😀🎉👍",  # emoji only
    "12345 678.90",  # digits only
    "?!",  # punctuation only
    "ok",  # too short to tell
    "안녕하세요 오늘 날씨가 정말 좋네요",  # Korean: not served by either set
    "Hello my friend, wie geht es dir heute, ça va bien?",  # mixed
]


def _direct(bundle: Bundle, texts: list[str], routed: list[str]) -> list[str]:
    """Predictions made by loading each sub-bundle directly and calling it on its own texts."""
    paths = sub_bundle_paths(bundle)
    out = [""] * len(texts)
    for key, path in paths.items():
        rows = [
            i for i, lang in enumerate(routed) if (lang if lang in paths and lang != "fallback" else "fallback") == key
        ]
        if rows:
            for i, (label, _score) in zip(rows, load_predictor(path).predict([texts[i] for i in rows]), strict=True):
                out[i] = label
    return out


@pytest.mark.parametrize("which", ["sib", "xed"])
def test_router_matches_each_language_bundle_called_directly(
    which: str, request: pytest.FixtureRequest, sib_test: Dataset, xed_test: Dataset
) -> None:
    bundle: Bundle = request.getfixturevalue(f"{which}_set")
    test = sib_test if which == "sib" else xed_test
    predictor = load_predictor(bundle)
    assert isinstance(predictor, RouterPredictor)
    # the dataset's own language column
    proba, routed = predictor.predict_proba_routed(test.texts, test.langs)
    # each text reaches its language's model, or the fallback (und) for a language without one (xed's first
    # 200 English rows share one label, so English has no model of its own)
    assert routed == [lang if lang in predictor.languages else UND for lang in test.langs or []]
    assert [predictor.labels[i] for i in proba.argmax(axis=1)] == _direct(bundle, test.texts, routed)
    # detected languages (the same routing a service does without a hint)
    proba, detected = predictor.predict_proba_routed(test.texts)
    assert [predictor.labels[i] for i in proba.argmax(axis=1)] == _direct(bundle, test.texts, detected)
    assert proba.shape == (len(test), len(predictor.labels))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_router_probabilities_equal_the_sub_bundle_columns(sib_set: Bundle, sib_test: Dataset) -> None:
    predictor = load_predictor(sib_set)
    assert isinstance(predictor, RouterPredictor)
    rows = [i for i, lang in enumerate(sib_test.langs or []) if lang == "ja"]
    texts = [sib_test.texts[i] for i in rows]
    sub = load_predictor(sub_bundle_paths(sib_set)["ja"])
    routed = predictor.predict_proba(texts, RoutingDecision(("ja",) * len(texts)))
    columns = [predictor.labels.index(label) for label in sub.labels]
    np.testing.assert_allclose(routed[:, columns], sub.predict_proba(texts), rtol=0, atol=1e-12)


@pytest.mark.parametrize("which", ["sib", "xed"])
def test_router_answers_odd_texts_with_the_fallback(which: str, request: pytest.FixtureRequest) -> None:
    bundle: Bundle = request.getfixturevalue(f"{which}_set")
    predictor = load_predictor(bundle)
    assert isinstance(predictor, RouterPredictor)
    proba, routed = predictor.predict_proba_routed(ODD_TEXTS)
    assert routed[:6] == [UND] * 6
    assert routed[6] == UND  # Korean has no model: whatever detection says, the fallback answers
    assert routed[7] in {UND, *predictor.languages}
    fallback = load_predictor(sub_bundle_paths(bundle)["fallback"])
    expected = fallback.predict_proba(ODD_TEXTS[:7])
    columns = [predictor.labels.index(label) for label in fallback.labels]
    np.testing.assert_allclose(proba[:7][:, columns], expected, atol=1e-12)


def test_router_keeps_input_order_across_four_languages(sib_set: Bundle, sib_test: Dataset) -> None:
    predictor = load_predictor(sib_set)
    assert isinstance(predictor, RouterPredictor)
    langs = sib_test.langs or []
    picks = [
        next(i for i, x in enumerate(langs) if x == lang) + k for k in range(3) for lang in ("de", "ja", "ar", "en")
    ]
    texts = [sib_test.texts[i] for i in picks]
    proba, routed = predictor.predict_proba_routed(texts)
    assert routed == [langs[i] for i in picks]
    one_by_one = [predictor.predict([t])[0][0] for t in texts]
    assert [predictor.labels[i] for i in proba.argmax(axis=1)] == one_by_one


def test_router_language_hints(sib_set: Bundle) -> None:
    predictor = load_predictor(sib_set)
    assert isinstance(predictor, RouterPredictor)
    texts = ["Der Hund schläft im Garten.", "The dog sleeps in the garden.", "Le chien dort."]
    assert predictor.route(texts, "de-AT") == RoutingDecision(("de", "de", "de"))
    assert predictor.route(texts, [None, "EN", "fr_FR"]).langs == ("de", "en", "fr")
    # a stated language without a model of its own: the fallback answers (und), nothing is detected
    assert predictor.route(texts, "xx") == RoutingDecision((UND,) * 3, (None,) * 3, (None,) * 3)
    mixed = predictor.route(texts, [None, "EN", "xx"])
    assert mixed.langs == ("de", "en", UND) and mixed.detected == ("de", None, None)
    assert mixed.confidence[0] is not None and mixed.confidence[0] > 0.5
    with pytest.raises(RuntimeLoadError, match="one per text"):
        predictor.route(texts, ["de"])


def test_router_serves_one_language(sib_set: Bundle) -> None:
    predictor = load_predictor(sib_set)
    assert isinstance(predictor, RouterPredictor)
    only_de = predictor.for_language("de-DE")
    assert only_de.manifest.languages == ["de"]
    with pytest.raises(RuntimeLoadError, match=r'no model of its own for language "ko".*send lang with each request'):
        predictor.for_language("ko")


def test_router_model_set_is_checksummed_as_one_unit(sib_set: Bundle, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(sib_set.path, tmp_path / "set"))
    target = next((copy / "models" / "de").glob("*.npz"), None) or next((copy / "models" / "de").iterdir())
    target.write_bytes(target.read_bytes() + b"x")
    with pytest.raises(BundleError, match="models/de"):
        load_predictor(copy)
