"""Native scikit-learn runtime: no pickle, ever.

A TF-IDF + linear-classifier pipeline (what the TF-IDF family trains) is saved declaratively:
``pipeline.json`` names each step's class (from a short allow-list) and its constructor parameters,
``pipeline.npz`` holds the fitted arrays (idf weights, coefficients, intercepts; compressed, read with
``allow_pickle=False``) and ``vocabulary.json`` the vocabularies as lists ordered by feature index.
Loading rebuilds the same scikit-learn objects and sets their fitted attributes, so predictions are
bit for bit those of the trained pipeline. It never imports skops: ``import skops.io`` imports every
scikit-learn estimator to list the trusted types (0.5 s here, over 2 s where PyTorch is installed,
because scikit-learn's array-API shim imports it), which dominated a service's cold start.

Any other pipeline, and bundles written before this format, use skops with trusted types only: the types
skops trusts, plus those the person who packaged the model trusted by name (``runtime_options``
``trusted_types``, see ``nlpops package --trust``).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.bundle import Bundle
from nlpops.errors import MissingExtraError, RuntimeLoadError
from nlpops.runtimes.base import BasePredictor

MODEL_FILE = "model.skops"
VOCABULARY_FILE = "vocabulary.json"
SPEC_FILE = "pipeline.json"
ARRAYS_FILE = "pipeline.npz"
SPEC_FORMAT = "nlpops.linear-text-pipeline.v1"

# The only classes a pipeline.json may name: (module, class). Anything else is refused on load.
_FEATURE_CLASSES = {"TfidfVectorizer": ("sklearn.feature_extraction.text", "TfidfVectorizer")}
_CLASSIFIER_CLASSES = {
    "LogisticRegression": ("sklearn.linear_model", "LogisticRegression"),
    "LinearSVC": ("sklearn.svm", "LinearSVC"),
}


def text_vectorizers(estimator: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, text vectorizer) inside a pipeline or feature union, fitted or not.

    The path names the steps from the root (``"features.char"``); it keys the saved vocabularies.
    """
    if hasattr(estimator, "build_analyzer"):
        yield prefix or "root", estimator
    for attr in ("steps", "transformer_list"):
        for name, child in getattr(estimator, attr, []):
            yield from text_vectorizers(child, f"{prefix}.{name}" if prefix else name)


def word_vocabulary(pipeline: Any) -> frozenset[str]:
    """The single words of a pipeline's word-level vectorizers (n-grams of several words left out)."""
    words: set[str] = set()
    for _, vectorizer in text_vectorizers(pipeline):
        if getattr(vectorizer, "analyzer", None) == "word" and hasattr(vectorizer, "vocabulary_"):
            words.update(term for term in vectorizer.vocabulary_ if " " not in term)
    return frozenset(words)


def save_pipeline(pipeline: Any, directory: Path, *, skops: bool = False) -> None:
    """Save a fitted pipeline: declaratively when it is TF-IDF features + a linear classifier, else with skops.

    Vocabularies are written apart as compact JSON lists either way: skops writes a dict node per
    vocabulary entry (tens of MB for a char n-gram vocabulary); a list ordered by feature index is a
    few MB and loads in a fraction of the time.

    Args:
        pipeline: a fitted scikit-learn pipeline.
        directory: an existing folder to write into.
        skops: use skops even for a pipeline the declarative format holds (what nlpops wrote before).
    """
    vocabularies: dict[str, list[str]] = {}
    for path, vectorizer in text_vectorizers(pipeline):
        if hasattr(vectorizer, "vocabulary_"):
            terms = [""] * len(vectorizer.vocabulary_)
            for term, index in vectorizer.vocabulary_.items():
                terms[index] = term
            vocabularies[path] = terms
    declared = None if skops else linear_text_spec(pipeline)
    if declared is not None:
        spec, arrays = declared
        (directory / SPEC_FILE).write_text(json.dumps(spec, indent=1, ensure_ascii=False), encoding="utf-8")
        # Compressed: coefficients repeat (features with the same counts get the same weight) and idf values
        # take few distinct values, so the file is about half the size (banking77: 18.7 vs 21.7 MB; sib200
        # multilingual: 14.8 vs 27.1 MB) for 70-80 ms more load time.
        with (directory / ARRAYS_FILE).open("wb") as handle:
            np.savez_compressed(handle, allow_pickle=False, **arrays)
    else:
        _dump_skops_without_vocabularies(pipeline, directory / MODEL_FILE)
    if vocabularies:
        (directory / VOCABULARY_FILE).write_text(json.dumps(vocabularies, ensure_ascii=False), encoding="utf-8")


def _dump_skops_without_vocabularies(pipeline: Any, path: Path) -> None:
    import skops.io as sio

    held: list[tuple[Any, dict[str, int]]] = []
    try:
        for _, vectorizer in text_vectorizers(pipeline):
            if hasattr(vectorizer, "vocabulary_"):
                held.append((vectorizer, vectorizer.vocabulary_))
                del vectorizer.vocabulary_
        sio.dump(pipeline, path, compression=zipfile.ZIP_DEFLATED)
    finally:
        for vectorizer, vocabulary in held:
            vectorizer.vocabulary_ = vocabulary


class _NotDeclarable(Exception):
    """A parameter or step that pipeline.json cannot describe (the pipeline is saved with skops instead)."""


def _encode_param(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, tuple):
        return {"$tuple": [_encode_param(v) for v in value]}
    if isinstance(value, list):
        return [_encode_param(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"$dict": {k: _encode_param(v) for k, v in value.items()}}
    if isinstance(value, type) and issubclass(value, np.generic):  # e.g. TfidfVectorizer(dtype=np.float64)
        return {"$dtype": np.dtype(value).name}
    raise _NotDeclarable(repr(value))


def _decode_param(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode_param(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$tuple"}:
            return tuple(_decode_param(v) for v in value["$tuple"])
        if set(value) == {"$dict"}:
            return {k: _decode_param(v) for k, v in value["$dict"].items()}
        if set(value) == {"$dtype"}:
            return np.dtype(value["$dtype"]).type
        raise ValueError(f"unknown parameter encoding {sorted(value)}")
    return value


def _decode_params(params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise TypeError(f"parameters must be an object, not {type(params).__name__}")
    return {str(k): _decode_param(v) for k, v in params.items()}


def _params(estimator: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: _encode_param(v) for k, v in estimator.get_params(deep=False).items() if k not in skip}


def _class(table: dict[str, tuple[str, str]], name: str) -> Any:
    import importlib

    module, attr = table[name]
    return getattr(importlib.import_module(module), attr)


def linear_text_spec(pipeline: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """The declarative form of ``Pipeline([(_, FeatureUnion([TfidfVectorizer...])), (_, linear classifier)])``.

    Returns:
        ``(spec, arrays)`` for pipeline.json and pipeline.npz, or None when the pipeline has any other
        shape or a parameter JSON cannot hold (a callable preprocessor, say): skops saves those.
    """
    from sklearn.pipeline import FeatureUnion, Pipeline

    try:
        if type(pipeline) is not Pipeline or len(pipeline.steps) != 2:
            return None
        (union_name, union), (clf_name, clf) = pipeline.steps
        clf_class = type(clf).__name__
        if type(union) is not FeatureUnion or clf_class not in _CLASSIFIER_CLASSES:
            return None
        if type(clf) is not _class(_CLASSIFIER_CLASSES, clf_class):
            return None
        arrays: dict[str, np.ndarray] = {}
        features = []
        for name, vectorizer in union.transformer_list:
            kind = type(vectorizer).__name__
            if kind not in _FEATURE_CLASSES or type(vectorizer) is not _class(_FEATURE_CLASSES, kind):
                return None
            params = _params(vectorizer)
            if params.get("preprocessor") is not None or params.get("tokenizer") is not None:
                return None
            if getattr(vectorizer, "use_idf", False):
                arrays[f"{union_name}.{name}.idf"] = np.asarray(vectorizer.idf_)
            features.append({"name": name, "class": kind, "params": params})
        arrays["clf.coef"] = np.asarray(clf.coef_)
        arrays["clf.intercept"] = np.atleast_1d(np.asarray(clf.intercept_))
        classes = [c.item() if isinstance(c, np.generic) else c for c in clf.classes_]
        if not all(isinstance(c, str | int) and not isinstance(c, bool) for c in classes):
            return None
        spec = {
            "format": SPEC_FORMAT,
            "pipeline": {"params": _params(pipeline, skip=("steps",))},
            "union": {"name": union_name, "params": _params(union, skip=("transformer_list",)), "features": features},
            "classifier": {"name": clf_name, "class": clf_class, "params": _params(clf), "classes": classes},
        }
    except _NotDeclarable:
        return None
    return spec, arrays


def _load_declared(directory: Path, vocabularies: dict[str, list[str]]) -> Any:
    """Rebuild the pipeline pipeline.json describes, with its fitted arrays and vocabularies."""
    spec_path = directory / SPEC_FILE
    try:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RuntimeLoadError(f'"{spec_path}" is not readable JSON: {exc}') from exc
    if not isinstance(spec, dict) or spec.get("format") != SPEC_FORMAT:
        found = spec.get("format") if isinstance(spec, dict) else None
        raise RuntimeLoadError(
            f'"{spec_path}" has format {found!r}; this nlpops reads {SPEC_FORMAT!r}. Upgrade nlpops or retrain.'
        )
    try:
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise RuntimeLoadError(f'"{directory / ARRAYS_FILE}" is not a readable array file: {exc}') from exc
    try:
        return _assemble(spec, arrays, vocabularies)
    except (KeyError, TypeError, ValueError) as exc:
        raise RuntimeLoadError(
            f'"{spec_path}" does not describe a pipeline this scikit-learn can rebuild '
            f"({type(exc).__name__}: {exc}). Retrain the model with this environment's nlpops."
        ) from exc


def _assemble(spec: dict[str, Any], arrays: dict[str, np.ndarray], vocabularies: dict[str, list[str]]) -> Any:
    from sklearn.pipeline import FeatureUnion, Pipeline

    union_spec, clf_spec = spec["union"], spec["classifier"]
    features = []
    n_features = 0
    for feature in union_spec["features"]:
        if feature["class"] not in _FEATURE_CLASSES:
            raise ValueError(f"step class {feature['class']!r} is not allowed")
        vectorizer = _class(_FEATURE_CLASSES, feature["class"])(**_decode_params(feature["params"]))
        path = f"{union_spec['name']}.{feature['name']}"
        terms = vocabularies[path]
        vectorizer.vocabulary_ = {term: i for i, term in enumerate(terms)}
        if vectorizer.use_idf:
            vectorizer.idf_ = arrays[f"{path}.idf"]  # checks its length against the vocabulary
        n_features += len(terms)
        features.append((feature["name"], vectorizer))
    if clf_spec["class"] not in _CLASSIFIER_CLASSES:
        raise ValueError(f"classifier class {clf_spec['class']!r} is not allowed")
    clf = _class(_CLASSIFIER_CLASSES, clf_spec["class"])(**_decode_params(clf_spec["params"]))
    clf.coef_, clf.intercept_ = arrays["clf.coef"], arrays["clf.intercept"]
    clf.classes_ = np.asarray(clf_spec["classes"])
    clf.n_features_in_ = n_features
    rows = 1 if len(clf.classes_) == 2 else len(clf.classes_)
    if clf.coef_.shape != (rows, n_features) or clf.intercept_.shape != (rows,):
        raise ValueError(
            f"coefficients of shape {clf.coef_.shape} do not fit {len(clf.classes_)} classes and {n_features} features"
        )
    union = FeatureUnion(features, **_decode_params(union_spec["params"]))
    steps = [(union_spec["name"], union), (clf_spec["name"], clf)]
    return Pipeline(steps, **_decode_params(spec["pipeline"]["params"]))


def load_pipeline(directory: Path, trusted: Sequence[str] = ()) -> Any:
    """Load a pipeline written by :func:`save_pipeline` (declared classes or skops' trusted types; no pickle).

    Args:
        trusted: types to trust beyond skops' own (named when the model was packaged).
    """
    vocab_path = directory / VOCABULARY_FILE
    vocabularies: dict[str, list[str]] = {}
    if vocab_path.is_file():
        try:
            vocabularies = json.loads(vocab_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RuntimeLoadError(f'"{vocab_path}" is not readable JSON: {exc}') from exc
    if (directory / SPEC_FILE).is_file():
        return _load_declared(directory, vocabularies)
    pipeline = load_skops(directory / MODEL_FILE, trusted)
    targets = dict(text_vectorizers(pipeline))
    for path, terms in vocabularies.items():
        if path not in targets:
            raise RuntimeLoadError(f'"{vocab_path}" names "{path}", which the model does not have.')
        targets[path].vocabulary_ = {term: i for i, term in enumerate(terms)}
    return pipeline


def load_skops(path: Any, trusted: Sequence[str] = ()) -> Any:
    """Load a skops file, refusing any type skops does not already trust and ``trusted`` does not name."""
    try:
        import skops.io as sio
    except ImportError as exc:  # pragma: no cover - skops is a base dependency
        raise MissingExtraError.for_extra("The scikit-learn runtime", "sklearn", "skops") from exc
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # skops raises many types on a corrupt file
        raise RuntimeLoadError(f'"{path}" is not a readable skops file: {exc}') from exc
    refused = [t for t in untrusted if t not in trusted]
    if refused:
        raise RuntimeLoadError(
            f'"{path}" contains types nlpops does not trust: {", ".join(refused)}. '
            "Refusing to load it; retrain with nlpops."
        )
    try:
        return sio.load(path, trusted=list(untrusted) or None)
    except Exception as exc:
        raise RuntimeLoadError(f'"{path}" could not be loaded by skops: {exc}') from exc


class SklearnPredictor(BasePredictor):
    """A scikit-learn pipeline whose final step has ``predict_proba`` (or ``decision_function``)."""

    def __init__(self, bundle: Bundle) -> None:
        super().__init__(bundle)
        # Listed in the manifest, else BundleError naming the file.
        bundle.file(SPEC_FILE if SPEC_FILE in bundle.manifest.files else MODEL_FILE)
        trusted = [str(t) for t in bundle.manifest.runtime_options.get("trusted_types", [])]
        self.pipeline = load_pipeline(bundle.path, trusted)
        classes = [str(c) for c in getattr(self.pipeline, "classes_", [])]
        if classes != self.labels:
            raise RuntimeLoadError(
                f'Bundle "{bundle.path}": the model\'s classes {classes[:5]}... do not match the manifest labels.'
            )
        self._has_proba = hasattr(self.pipeline, "predict_proba")
        self._vocabulary: frozenset[str] | None = None

    def vocabulary(self) -> frozenset[str] | None:
        """The word vocabulary of the pipeline's word vectorizers (computed once)."""
        if self._vocabulary is None:
            self._vocabulary = word_vocabulary(self.pipeline)
        return self._vocabulary or None

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        if self._has_proba:
            return np.asarray(self.pipeline.predict_proba(texts), dtype=np.float64)
        return self.softmax_scores(self.pipeline.decision_function(texts))

    @staticmethod
    def softmax_scores(decision: Any) -> np.ndarray:
        """Turn linear-model margins into probabilities (softmax; binary margins become two columns)."""
        scores = np.asarray(decision, dtype=np.float64)
        if scores.ndim == 1:
            scores = np.stack([-scores, scores], axis=1)
        scores = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))


__all__ = [
    "ARRAYS_FILE",
    "MODEL_FILE",
    "SPEC_FILE",
    "SPEC_FORMAT",
    "VOCABULARY_FILE",
    "SklearnPredictor",
    "linear_text_spec",
    "load_pipeline",
    "load_skops",
    "save_pipeline",
    "text_vectorizers",
    "word_vocabulary",
]
