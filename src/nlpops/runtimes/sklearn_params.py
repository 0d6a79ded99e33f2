"""Which parameter values the scikit-learn runtime accepts for its allow-listed classes.

Allow-listing the classes (``TfidfVectorizer``, ``LogisticRegression``, ``LinearSVC``, ``FeatureUnion``,
``Pipeline``) is not enough: a parameter can make an allowed class dangerous. ``input="filename"`` makes the
vectorizer open the files that client texts name; an ``object`` dtype breaks prediction; a callable
preprocessor or tokenizer runs code; a ``token_pattern`` such as ``(a+)+$`` backtracks for minutes on one
text; an n-gram range of ``(1, 100000)`` builds millions of n-grams per text; ``memory`` or ``n_jobs`` make a
pipeline write to disk or start processes. So every parameter value is checked against a fixed set before an
object is built, for the declarative ``pipeline.json`` and for pipelines skops loaded alike.

A parameter this table does not know (one a newer scikit-learn added) is accepted only at the class's
default value, which is what scikit-learn would use without it.

``token_pattern`` rule: at most 200 characters, compiles, no backreference, and at most one repetition
(``+``, ``*``, ``{m,n}``), of a single character or character class, as in the default ``(?u)\\b\\w\\w+\\b``.
Such a pattern matches in time linear in the text at each position; nested or alternated repetitions
(``(a+)+``, ``(a|aa)+``, ``(\\w+\\s?)+``) and chains of them (``\\w*\\w*\\w*x``) can take exponential or high
polynomial time, so they are refused.
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from nlpops.errors import RuntimeLoadError

MAX_TOKEN_PATTERN_CHARS = 200
MAX_NGRAM = 10
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"

Check = Callable[[Any], bool]

_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})
_ONE_CHAR = frozenset({"LITERAL", "NOT_LITERAL", "IN", "ANY", "CATEGORY"})
_REFUSED = frozenset({"GROUPREF", "GROUPREF_EXISTS", "GROUPREF_IGNORE", "GROUPREF_LOC_IGNORE", "GROUPREF_UNI_IGNORE"})


def _one_of(*values: Any) -> Check:
    return lambda value: any(value is v or (type(value) is type(v) and value == v) for v in values)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and bool(np.isfinite(value))


def _is_count(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)


def _is_ngram_range(value: Any) -> bool:
    return (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in value)
        and 1 <= value[0] <= value[1] <= MAX_NGRAM
    )


def _is_stop_words(value: Any) -> bool:
    if value is None or value == "english":
        return True
    return isinstance(value, list | tuple | frozenset | set) and all(isinstance(w, str) for w in value)


def _is_float_dtype(value: Any) -> bool:
    return value in (np.float64, np.float32)


def _is_weights(value: Any) -> bool:
    return value is None or (
        isinstance(value, dict) and all(isinstance(k, str) and _is_number(v) for k, v in value.items())
    )


def _is_class_weight(value: Any) -> bool:
    return value is None or value == "balanced" or _is_weights(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool) or _is_number(value)


def token_pattern_problem(pattern: Any) -> str | None:
    """Why ``pattern`` may not be a vectorizer's ``token_pattern`` (None: it is accepted; see the module doc)."""
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        return f"it is a {type(pattern).__name__}, not a string"
    if len(pattern) > MAX_TOKEN_PATTERN_CHARS:
        return f"it has {len(pattern)} characters (at most {MAX_TOKEN_PATTERN_CHARS})"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. FutureWarning "possible nested set": ambiguous, refused
            re.compile(pattern)
            parsed = importlib.import_module("re._parser").parse(pattern)
    except (re.error, RecursionError, ValueError, OverflowError, Warning) as exc:
        return f"it does not compile cleanly ({exc})"
    try:
        repeats = _count_repeats(list(parsed))
    except ValueError as exc:
        return str(exc)
    if repeats > 1:
        return f"it repeats {repeats} times; at most one repetition is allowed (chained repetitions backtrack)"
    return None


def _single_char(items: list[Any]) -> bool:
    if len(items) != 1:
        return False
    op, arg = items[0]
    if str(op) == "SUBPATTERN":
        return _single_char(list(arg[-1]))
    return str(op) in _ONE_CHAR


def _count_repeats(items: list[Any]) -> int:
    count = 0
    for op, arg in items:
        name = str(op)
        if name in _REFUSED:
            raise ValueError("it uses a backreference, which can backtrack without bound")
        if name in _REPEATS:
            _low, high, body = arg
            if high > 1:
                if not _single_char(list(body)):
                    raise ValueError(
                        "it repeats a group or an alternation (like (a+)+ or (a|aa)+), which backtracks exponentially"
                    )
                count += 1
            else:
                count += _count_repeats(list(body))
        elif name == "SUBPATTERN":
            count += _count_repeats(list(arg[-1]))
        elif name == "ATOMIC_GROUP":
            count += _count_repeats(list(arg))
        elif name == "BRANCH":
            count += sum(_count_repeats(list(alternative)) for alternative in arg[1])
        elif name in ("ASSERT", "ASSERT_NOT"):
            count += _count_repeats(list(arg[1]))
    return count


def _is_token_pattern(value: Any) -> bool:
    return token_pattern_problem(value) is None


_VECTORIZER: dict[str, Check] = {
    "input": _one_of("content"),
    "encoding": _one_of("utf-8"),
    "decode_error": _one_of("strict", "ignore", "replace"),
    "strip_accents": _one_of(None, "ascii", "unicode"),
    "lowercase": _is_bool,
    "preprocessor": _one_of(None),
    "tokenizer": _one_of(None),
    "analyzer": _one_of("word", "char", "char_wb"),
    "stop_words": _is_stop_words,
    "token_pattern": _is_token_pattern,
    "ngram_range": _is_ngram_range,
    "max_df": _is_number,
    "min_df": _is_number,
    "max_features": _is_count,
    "vocabulary": _one_of(None),
    "binary": _is_bool,
    "dtype": _is_float_dtype,
    "norm": _one_of("l1", "l2", None),
    "use_idf": _is_bool,
    "smooth_idf": _is_bool,
    "sublinear_tf": _is_bool,
}
_UNION: dict[str, Check] = {
    "n_jobs": _one_of(None, 1),
    "transformer_weights": _is_weights,
    "verbose": _is_bool,
    "verbose_feature_names_out": _is_bool,
}
_PIPELINE: dict[str, Check] = {"memory": _one_of(None), "verbose": _is_bool, "transform_input": _one_of(None)}
_CLASSIFIER: dict[str, Check] = {"class_weight": _is_class_weight, "n_jobs": _one_of(None, 1)}

TABLES: dict[str, dict[str, Check]] = {
    "TfidfVectorizer": _VECTORIZER,
    "FeatureUnion": _UNION,
    "Pipeline": _PIPELINE,
    "LogisticRegression": _CLASSIFIER,
    "LinearSVC": _CLASSIFIER,
    "OneVsRestClassifier": {"n_jobs": _one_of(None, 1)},
}
_ANY_SCALAR = frozenset({"LogisticRegression", "LinearSVC"})


def check_params(kind: str, params: Mapping[str, Any], defaults: Mapping[str, Any], where: str) -> None:
    """Refuse any parameter value of class ``kind`` outside the allowed set (see the module docstring).

    Args:
        kind: the class name (a key of :data:`TABLES`).
        params: the (decoded) constructor parameters.
        defaults: the class's default parameters (``cls().get_params(deep=False)``).
        where: names the file and step for the message.

    Raises:
        RuntimeLoadError: naming the step, the parameter and its value.
    """
    table = TABLES[kind]
    for key, value in params.items():
        check = table.get(key)
        if check is not None:
            allowed = check(value)
        elif key in defaults:
            # classifiers' numeric settings (C, tol, max_iter...) matter only when fitting: any scalar will do
            allowed = _is_scalar(value) if kind in _ANY_SCALAR else _same(value, defaults[key])
        else:
            allowed = False
        if not allowed:
            reason = token_pattern_problem(value) if key == "token_pattern" else None
            detail = f": {reason}" if reason else ""
            raise RuntimeLoadError(
                f"{where}: {kind} parameter {key}={_show(value)} is not allowed{detail}. nlpops accepts only "
                "safe values for the classes it rebuilds (see docs/security.md); retrain the model with nlpops."
            )


_CALLABLE_PARAMS = ("preprocessor", "tokenizer", "analyzer")


def check_vectorizer(vectorizer: Any, where: str, trusted: Sequence[str] = ()) -> None:
    """The text-vectorizer checks of :func:`check_params` for a loaded object (a skops pipeline's vectorizer).

    Only the parameters the table knows are checked: skops may load other vectorizer classes. A function as
    ``preprocessor``, ``tokenizer`` or ``analyzer`` is allowed only when its qualified name is in ``trusted``
    (the types the person who packaged the model trusted by name, ``nlpops package --trust``): skops loaded
    it only because of that trust.

    Raises:
        RuntimeLoadError: a parameter value outside the allowed set.
    """
    params = vectorizer.get_params(deep=False)
    known = {
        key: value
        for key, value in params.items()
        if key in _VECTORIZER and not (key in _CALLABLE_PARAMS and _qualified_name(value) in trusted)
    }
    check_params("TfidfVectorizer", known, {}, f"{where} ({type(vectorizer).__name__})")


def _qualified_name(value: Any) -> str | None:
    if not callable(value) or isinstance(value, type):
        return None
    module, name = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    return f"{module}.{name}" if module and name else None


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(type(value) is type(default) and value == default) or (value is None and default is None)
    except (TypeError, ValueError):
        return False


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


__all__ = [
    "DEFAULT_TOKEN_PATTERN",
    "MAX_NGRAM",
    "MAX_TOKEN_PATTERN_CHARS",
    "TABLES",
    "check_params",
    "check_vectorizer",
    "token_pattern_problem",
]
