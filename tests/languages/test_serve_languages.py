"""A model set behind the real service (``nlpops serve`` subprocess on a free port, registry refs)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from language_support import fast_config, per_language_sample, subprocess_env

from nlpops.bundle import Bundle
from nlpops.checklist import RegistrySettings
from nlpops.data import Dataset, bundled_dataset, read_dataset
from nlpops.languages import train_by_language
from nlpops.registry import open_registry
from nlpops.runtimes import load_predictor

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_support import cli_server

FOUR = ("de", "ja", "ar", "en")


def _env(home: Path) -> dict[str, str]:
    return {**subprocess_env(home), "NLPOPS_SERVING__POLL_INTERVAL_S": "0.2"}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, sib_set: Bundle) -> Path:
    """A registry with the sib200 model set registered as topics:1 and promoted to production."""
    home = tmp_path_factory.mktemp("home")
    registry = open_registry(RegistrySettings(home=home))
    version = registry.register(sib_set.path, "topics")
    registry.promote("topics", version.version, "production")
    return home


@pytest.fixture(scope="module")
def service(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with cli_server(["topics@production"], _env(home), tmp_path_factory.mktemp("log") / "serve.log") as url:
        yield url


def _four_language_texts(test: Dataset, per_lang: int = 3) -> tuple[list[str], list[str]]:
    langs = test.langs or []
    picks = [[i for i, x in enumerate(langs) if x == lang][k] for k in range(per_lang) for lang in FOUR]
    return [test.texts[i] for i in picks], [langs[i] for i in picks]


def _classify(url: str, texts: list[str], **extra: object) -> dict:  # type: ignore[type-arg]
    response = httpx.post(f"{url}/v1/classify", json={"texts": texts, **extra}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_serve_model_set_matches_in_process_routing(service: str, sib_set: Bundle, sib_test: Dataset) -> None:
    predictor = load_predictor(sib_set)
    for start in range(0, len(sib_test), 256):
        texts = sib_test.texts[start : start + 256]
        served = [p["label"] for p in _classify(service, texts)["predictions"]]
        assert served == [label for label, _ in predictor.predict(texts)]


def test_serve_answers_odd_texts_without_error(service: str) -> None:
    texts = [" ", "😀🎉", "12345", "안녕하세요 오늘 날씨가 정말 좋네요", "Hello my friend, wie geht es dir?"]
    assert len(_classify(service, texts)["predictions"]) == len(texts)


def test_serve_reports_lang_per_text_in_input_order(service: str, sib_set: Bundle, sib_test: Dataset) -> None:
    texts, langs = _four_language_texts(sib_test)
    predictions = _classify(service, texts)["predictions"]
    assert [p["lang"] for p in predictions] == langs
    assert [p["label"] for p in predictions] == [label for label, _ in load_predictor(sib_set).predict(texts)]
    # empty after trim (whitespace only) goes to the fallback; a zero-length text is a 422 (serving contract)
    odd = _classify(service, ["😀", "12345", "   \t "])["predictions"]
    assert [p["lang"] for p in odd] == ["und", "und", "und"]
    assert httpx.post(f"{service}/v1/classify", json={"texts": [""]}, timeout=60).status_code == 422


def test_serve_routes_by_the_request_lang(service: str, sib_set: Bundle, sib_test: Dataset) -> None:
    predictor = load_predictor(sib_set)
    german = predictor.for_language("de")
    # texts (not German) where the German model and the detected route disagree: the hint must decide
    others = [t for t, lang in zip(sib_test.texts, sib_test.langs or [], strict=True) if lang != "de"]
    pairs = zip(others, german.predict(others), predictor.predict(others), strict=True)
    texts = [t for t, (by_german, _), (routed, _) in pairs if by_german != routed][:12]
    assert len(texts) >= 4
    predictions = _classify(service, texts, lang="de")["predictions"]
    assert [p["label"] for p in predictions] == [label for label, _ in german.predict(texts)]
    assert {p["lang"] for p in predictions} == {"de"}


def test_serve_one_language_of_a_model_set(home: Path, sib_set: Bundle, sib_test: Dataset, tmp_path: Path) -> None:
    with cli_server(["topics@production", "--lang", "de"], _env(home), tmp_path / "serve.log") as url:
        texts, _ = _four_language_texts(sib_test)
        german = load_predictor(sib_set).for_language("de")
        predictions = _classify(url, texts)["predictions"]
        assert [p["label"] for p in predictions] == [label for label, _ in german.predict(texts)]
        assert {p["lang"] for p in predictions} == {"de"}


@pytest.mark.slow
def test_promote_and_rollback_switch_every_language_at_once(
    home: Path, service: str, sib_test: Dataset, tmp_path: Path
) -> None:
    # version 2: the same languages, labels renamed, so every answer tells which version produced it
    train = per_language_sample(read_dataset(bundled_dataset("sib200", "train")), 60)
    train = train.subset([i for i, x in enumerate(train.langs or []) if x in FOUR])
    train = replace(train, labels=[f"v2-{label}" for label in train.labels])
    v2_set = train_by_language(fast_config(), train, None, tmp_path / "v2", "topics", "per-language")
    registry = open_registry(RegistrySettings(home=home))
    v2 = registry.register(v2_set.path, "topics")
    texts, _ = _four_language_texts(sib_test, per_lang=4)

    def versions_seen(until: str, limit_s: float = 60) -> set[str]:
        seen: set[str] = set()
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            labels = [p["label"] for p in _classify(service, texts)["predictions"]]
            kinds = {label.startswith("v2-") for label in labels}
            assert len(kinds) == 1, f"one response mixed model set versions: {labels}"
            seen.add("v2" if kinds == {True} else "v1")
            if until in seen and len(seen) > 1:
                return seen
        raise AssertionError(f"the service never switched to {until} (saw {seen})")

    registry.promote("topics", v2.version, "production")
    assert versions_seen("v2") >= {"v2"}
    registry.rollback("topics", "production")
    assert versions_seen("v1") >= {"v1"}
