"""The declarative form of a TF-IDF + linear-classifier pipeline: ``pipeline.json`` and ``pipeline.npz``.

``pipeline.json`` names each step's class from a short allow-list and its constructor parameters (JSON, with
``$tuple``/``$dict``/``$dtype`` encodings); ``pipeline.npz`` holds the fitted arrays (idf weights, coefficients,
intercepts; read with ``allow_pickle=False``). A multi-label model's classifier is a ``OneVsRestClassifier`` of
logistic regressions: its coefficients are stacked one row per label and each binary regression is rebuilt
from its row. Loading rebuilds the same scikit-learn objects with their fitted attributes, so predictions are
bit for bit those of the trained pipeline.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.errors import RuntimeLoadError
from nlpops.runtimes.sklearn_params import check_params

SPEC_FILE = "pipeline.json"
ARRAYS_FILE = "pipeline.npz"
SPEC_FORMAT = "nlpops.linear-text-pipeline.v1"

# The only classes a pipeline.json may name: (module, class). Anything else is refused on load.
_FEATURE_CLASSES = {"TfidfVectorizer": ("sklearn.feature_extraction.text", "TfidfVectorizer")}
_CLASSIFIER_CLASSES = {
    "LogisticRegression": ("sklearn.linear_model", "LogisticRegression"),
    "LinearSVC": ("sklearn.svm", "LinearSVC"),
}
_ONE_VS_REST = ("sklearn.multiclass", "OneVsRestClassifier")
# A multi-label model: one logistic regression per label, rebuilt from its row of the stacked coefficients.


class NotDeclarable(Exception):
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
    raise NotDeclarable(repr(value))


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
        one_vs_rest = type(clf) is _class({"ovr": _ONE_VS_REST}, "ovr")
        if one_vs_rest:
            estimator_class = type(clf.estimator).__name__
            fitted = getattr(clf, "estimators_", [])
            if estimator_class != "LogisticRegression" or not fitted:
                return None
            if any(type(e) is not type(clf.estimator) for e in fitted):
                return None  # a label seen only one way in training gets a constant predictor
            clf_class = "OneVsRestClassifier"
        else:
            clf_class = type(clf).__name__
            if clf_class not in _CLASSIFIER_CLASSES or type(clf) is not _class(_CLASSIFIER_CLASSES, clf_class):
                return None
        if type(union) is not FeatureUnion:
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
        if one_vs_rest:
            arrays["clf.coef"] = np.vstack([np.asarray(e.coef_) for e in clf.estimators_])
            arrays["clf.intercept"] = np.concatenate([np.atleast_1d(np.asarray(e.intercept_)) for e in clf.estimators_])
            classifier: dict[str, Any] = {
                "name": clf_name,
                "class": "OneVsRestClassifier",
                "params": _params(clf, skip=("estimator",)),
                "estimator": {"class": estimator_class, "params": _params(clf.estimator)},
                "outputs": len(clf.estimators_),
            }
        else:
            arrays["clf.coef"] = np.asarray(clf.coef_)
            arrays["clf.intercept"] = np.atleast_1d(np.asarray(clf.intercept_))
            classes = [c.item() if isinstance(c, np.generic) else c for c in clf.classes_]
            if not all(isinstance(c, str | int) and not isinstance(c, bool) for c in classes):
                return None
            classifier = {"name": clf_name, "class": clf_class, "params": _params(clf), "classes": classes}
        spec = {
            "format": SPEC_FORMAT,
            "pipeline": {"params": _params(pipeline, skip=("steps",))},
            "union": {"name": union_name, "params": _params(union, skip=("transformer_list",)), "features": features},
            "classifier": classifier,
        }
    except NotDeclarable:
        return None
    return spec, arrays


def load_declared(directory: Path, vocabularies: dict[str, list[str]]) -> Any:
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
        return _assemble(spec, arrays, vocabularies, f'"{spec_path}"')
    except (KeyError, TypeError, ValueError) as exc:
        raise RuntimeLoadError(
            f'"{spec_path}" does not describe a pipeline this scikit-learn can rebuild '
            f"({type(exc).__name__}: {exc}). Retrain the model with this environment's nlpops."
        ) from exc


def _build(cls: Any, encoded: Any, where: str, *args: Any) -> Any:
    """``cls(*args, **params)`` once every parameter value passed :func:`check_params`."""
    import inspect

    params = _decode_params(encoded)
    defaults = {name: p.default for name, p in inspect.signature(cls).parameters.items() if p.default is not p.empty}
    check_params(cls.__name__, params, defaults, where)
    return cls(*args, **params)


def _assemble(
    spec: dict[str, Any], arrays: dict[str, np.ndarray], vocabularies: dict[str, list[str]], where: str
) -> Any:
    from sklearn.pipeline import FeatureUnion, Pipeline

    union_spec, clf_spec = spec["union"], spec["classifier"]
    features = []
    n_features = 0
    for feature in union_spec["features"]:
        if feature["class"] not in _FEATURE_CLASSES:
            raise ValueError(f"step class {feature['class']!r} is not allowed")
        path = f"{union_spec['name']}.{feature['name']}"
        vectorizer = _build(_class(_FEATURE_CLASSES, feature["class"]), feature["params"], f'{where}, step "{path}"')
        terms = vocabularies[path]
        vectorizer.vocabulary_ = {term: i for i, term in enumerate(terms)}
        if vectorizer.use_idf:
            vectorizer.idf_ = arrays[f"{path}.idf"]  # checks its length against the vocabulary
        n_features += len(terms)
        features.append((feature["name"], vectorizer))
    if clf_spec["class"] == "OneVsRestClassifier":
        clf = _one_vs_rest(clf_spec, arrays, n_features, f"{where}, classifier")
    else:
        if clf_spec["class"] not in _CLASSIFIER_CLASSES:
            raise ValueError(f"classifier class {clf_spec['class']!r} is not allowed")
        clf = _build(_class(_CLASSIFIER_CLASSES, clf_spec["class"]), clf_spec["params"], f"{where}, classifier")
        clf.coef_, clf.intercept_ = arrays["clf.coef"], arrays["clf.intercept"]
        clf.classes_ = np.asarray(clf_spec["classes"])
        clf.n_features_in_ = n_features
        rows = 1 if len(clf.classes_) == 2 else len(clf.classes_)
        if clf.coef_.shape != (rows, n_features) or clf.intercept_.shape != (rows,):
            raise ValueError(
                f"coefficients of shape {clf.coef_.shape} do not fit {len(clf.classes_)} classes and "
                f"{n_features} features"
            )
    union = _build(FeatureUnion, union_spec["params"], f"{where}, feature union", features)
    steps = [(union_spec["name"], union), (clf_spec["name"], clf)]
    return _build(Pipeline, spec["pipeline"]["params"], f"{where}, pipeline", steps)


def _one_vs_rest(spec: dict[str, Any], arrays: dict[str, np.ndarray], n_features: int, where: str) -> Any:
    """A fitted ``OneVsRestClassifier`` (multi-label) of logistic regressions, one per row of the coefficients."""
    from sklearn.preprocessing import LabelBinarizer

    estimator = spec["estimator"]
    if estimator["class"] != "LogisticRegression":
        raise ValueError(f"one-vs-rest estimator class {estimator['class']!r} is not allowed")
    make = _class(_CLASSIFIER_CLASSES, "LogisticRegression")
    params = _decode_params(estimator["params"])
    _build(make, estimator["params"], f"{where} estimator")  # checks the parameter values
    coef, intercept = arrays["clf.coef"], arrays["clf.intercept"]
    outputs = int(spec["outputs"])
    if outputs < 2 or coef.shape != (outputs, n_features) or intercept.shape != (outputs,):
        raise ValueError(f"coefficients of shape {coef.shape} do not fit {outputs} labels and {n_features} features")
    fitted = []
    for row in range(outputs):
        binary = make(**params)
        binary.coef_, binary.intercept_ = coef[row : row + 1], intercept[row : row + 1]
        binary.classes_ = np.array([0, 1])
        binary.n_features_in_ = n_features
        fitted.append(binary)
    clf = _build(_class({"ovr": _ONE_VS_REST}, "ovr"), spec["params"], where, make(**params))
    clf.label_binarizer_ = LabelBinarizer(sparse_output=True).fit(np.eye(outputs, dtype=np.int64))
    clf.classes_ = clf.label_binarizer_.classes_
    clf.estimators_ = fitted
    clf.n_features_in_ = n_features
    return clf


__all__ = ["ARRAYS_FILE", "SPEC_FILE", "SPEC_FORMAT", "NotDeclarable", "linear_text_spec", "load_declared"]
