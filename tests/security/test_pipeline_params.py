"""Allow-listed scikit-learn classes with dangerous parameter values are refused on load (pipeline.json, skops)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from security_support import rewrite_bundle_file

from nlpops.bundle import Bundle
from nlpops.errors import RuntimeLoadError
from nlpops.runtimes import load_predictor
from nlpops.runtimes.sklearn import SPEC_FILE, load_pipeline, save_pipeline
from nlpops.runtimes.sklearn_params import token_pattern_problem


def _with_spec(tiny_bundle: Bundle, tmp_path: Path, edit: Any) -> Path:
    bundle_dir = tmp_path / "bundle"
    shutil.copytree(tiny_bundle.path, bundle_dir)
    spec = json.loads((bundle_dir / SPEC_FILE).read_text(encoding="utf-8"))
    edit(spec)
    rewrite_bundle_file(bundle_dir, SPEC_FILE, json.dumps(spec).encode("utf-8"))
    return bundle_dir


def _word_params(spec: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = spec["union"]["features"][0]["params"]
    return params


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("input", "filename", "input='filename'"),
        ("input", "file", "input='file'"),
        ("dtype", {"$dtype": "object"}, "dtype=<class 'numpy.object_'>"),
        ("token_pattern", "(a+)+$", "token_pattern='(a+)+$'"),
        ("token_pattern", "(\\w+\\s?)+$", "token_pattern="),
        ("token_pattern", "(a|aa)+$", "token_pattern="),
        ("token_pattern", "\\w*\\w*\\w*x", "token_pattern="),
        ("token_pattern", "(a)\\1", "token_pattern="),
        ("token_pattern", "[", "token_pattern='['"),
        ("token_pattern", "a" * 201, "token_pattern="),
        ("preprocessor", "str.upper", "preprocessor='str.upper'"),
        ("tokenizer", "os.system", "tokenizer='os.system'"),
        ("analyzer", "words", "analyzer='words'"),
        ("strip_accents", "all", "strip_accents='all'"),
        ("encoding", "rot13", "encoding='rot13'"),
        ("ngram_range", {"$tuple": [1, 100000]}, "ngram_range=(1, 100000)"),
        ("vocabulary", ["a", "b"], "vocabulary=['a', 'b']"),
        ("a_future_parameter", 3, "a_future_parameter=3"),
    ],
)
def test_dangerous_vectorizer_parameter_is_refused(
    tiny_bundle: Bundle, tmp_path: Path, key: str, value: Any, shown: str
) -> None:
    bundle_dir = _with_spec(tiny_bundle, tmp_path, lambda spec: _word_params(spec).__setitem__(key, value))
    with pytest.raises(RuntimeLoadError, match=re.escape(shown)) as info:
        load_predictor(bundle_dir)
    assert 'step "features.word"' in str(info.value) and "not allowed" in str(info.value)


@pytest.mark.parametrize(
    ("part", "key", "value"),
    [("pipeline", "memory", "/tmp/cache"), ("union", "n_jobs", -1), ("classifier", "n_jobs", 64)],
)
def test_dangerous_pipeline_parameter_is_refused(
    tiny_bundle: Bundle, tmp_path: Path, part: str, key: str, value: Any
) -> None:
    bundle_dir = _with_spec(tiny_bundle, tmp_path, lambda spec: spec[part]["params"].__setitem__(key, value))
    with pytest.raises(RuntimeLoadError, match=f"{key}={re.escape(repr(value))} is not allowed"):
        load_predictor(bundle_dir)


def test_filename_input_never_opens_a_file_named_by_a_text(tiny_bundle: Bundle, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("card card card card", encoding="utf-8")
    bundle_dir = _with_spec(tiny_bundle, tmp_path, lambda spec: _word_params(spec).__setitem__("input", "filename"))
    with pytest.raises(RuntimeLoadError):
        load_predictor(bundle_dir).predict([str(secret)])


def test_safe_values_and_unknown_keys_at_their_default_still_load(tiny_bundle: Bundle, tmp_path: Path) -> None:
    def edit(spec: dict[str, Any]) -> None:
        params = _word_params(spec)
        params.update(token_pattern="(?u)\\b\\w+\\b", strip_accents="unicode", dtype={"$dtype": "float32"})
        params.update(stop_words="english", norm="l1")

    bundle_dir = _with_spec(tiny_bundle, tmp_path, edit)
    assert load_predictor(bundle_dir).predict(["my card was stolen"])[0][0] == "card"


def test_skops_pipeline_with_filename_input_is_refused(tmp_path: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    docs = []
    for i, text in enumerate(["card lost", "card stolen", "refund fee", "money back"]):
        doc = tmp_path / f"doc{i}.txt"
        doc.write_text(text, encoding="utf-8")
        docs.append(str(doc))
    pipeline = Pipeline([("tfidf", TfidfVectorizer(input="filename")), ("clf", LogisticRegression())])
    pipeline.fit(docs, ["card", "card", "money", "money"])
    out = tmp_path / "model"
    out.mkdir()
    save_pipeline(pipeline, out, skops=True)
    with pytest.raises(RuntimeLoadError, match=re.escape("input='filename' is not allowed")):
        load_pipeline(out)


@pytest.mark.parametrize("pattern", [r"(?u)\b\w\w+\b", r"(?u)\b\w+\b", r"[a-z]{2,}", r"\S+", r"(?i)\b[a-z]\w*"])
def test_token_pattern_rule_accepts_single_repetitions(pattern: str) -> None:
    assert token_pattern_problem(pattern) is None


_REGEX_PIECES = st.sampled_from(
    [
        "a",
        "b",
        "\\w",
        "\\s",
        "\\d",
        ".",
        "[ab]",
        "(",
        ")",
        "(?:",
        "|",
        "+",
        "*",
        "?",
        "{2,}",
        "{1,3}",
        "\\b",
        "$",
        "^",
        "\\1",
        "(?=",
        "(?!",
        "\\",
        "[",
        "]",
        "{",
        "}",
    ]
)


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(_REGEX_PIECES, max_size=12))
def test_token_pattern_rule_is_total_and_bounds_repetition(pieces: list[str]) -> None:
    """Any pattern gets an answer (never an exception); an accepted one compiles; nested repetition is refused."""
    pattern = "".join(pieces)
    problem = token_pattern_problem(pattern)
    assert problem is None or isinstance(problem, str)
    if problem is None:
        re.compile(pattern)
    assert token_pattern_problem(f"(?:{pattern}|ab+)+") is not None


def _split_words(text: str) -> list[str]:
    return text.split()


def test_a_function_as_tokenizer_is_allowed_only_when_trusted_by_name() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from nlpops.runtimes.sklearn_params import check_vectorizer

    vectorizer = TfidfVectorizer(tokenizer=_split_words, token_pattern=None)
    name = f"{__name__}._split_words"
    with pytest.raises(RuntimeLoadError, match="tokenizer=<function _split_words"):
        check_vectorizer(vectorizer, "here", ())
    with pytest.raises(RuntimeLoadError, match="tokenizer=<function _split_words"):
        check_vectorizer(vectorizer, "here", ("os.system",))
    check_vectorizer(vectorizer, "here", (name,))  # trusted by name when the model was packaged
    with pytest.raises(RuntimeLoadError, match="input='filename'"):  # the other checks still apply
        check_vectorizer(TfidfVectorizer(tokenizer=_split_words, input="filename"), "here", (name,))
