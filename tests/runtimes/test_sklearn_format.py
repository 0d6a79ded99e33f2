"""The scikit-learn runtime's declarative format: exact round trips, no skops at load, refusals that name the file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nlpops.bundle import Bundle
from nlpops.checklist import TfidfSettings
from nlpops.errors import RuntimeLoadError
from nlpops.families.tfidf import build_pipeline
from nlpops.runtimes.sklearn import (
    ARRAYS_FILE,
    MODEL_FILE,
    SPEC_FILE,
    linear_text_spec,
    load_pipeline,
    save_pipeline,
)
from nlpops.testing import tiny_dataset

TEXTS = ["I lost my card", "refund this fee please", "where is my money", "card blocked", "zzz unseen words"]


def _fitted(**settings: object) -> object:
    data = tiny_dataset()
    pipeline = build_pipeline(TfidfSettings.model_validate(settings))
    pipeline.fit(list(data.texts), list(data.labels))
    return pipeline


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"classifier": "linear_svc"},
        {"char_ngrams": False, "sublinear_tf": False, "class_weight": "balanced"},
        {"word_ngram_max": 3, "char_ngram_min": 1, "char_ngram_max": 6, "lowercase": False},
    ],
)
def test_declared_pipeline_round_trips_bit_for_bit(tmp_path: Path, settings: dict[str, object]) -> None:
    pipeline = _fitted(**settings)
    save_pipeline(pipeline, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {SPEC_FILE, ARRAYS_FILE, "vocabulary.json"}
    loaded = load_pipeline(tmp_path)
    assert loaded.get_params(deep=True).keys() == pipeline.get_params(deep=True).keys()
    method = "predict_proba" if hasattr(pipeline, "predict_proba") else "decision_function"
    assert getattr(loaded, method)(TEXTS).tobytes() == getattr(pipeline, method)(TEXTS).tobytes()
    assert list(loaded.predict(TEXTS)) == list(pipeline.predict(TEXTS))


def test_arrays_are_stored_uncompressed_and_compressed_ones_still_load(tmp_path: Path) -> None:
    # Decompressing the arrays was half of what a service's start cost over a plain endpoint's joblib.load.
    pipeline = _fitted()
    save_pipeline(pipeline, tmp_path)
    with zipfile.ZipFile(tmp_path / ARRAYS_FILE) as archive:
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    with np.load(tmp_path / ARRAYS_FILE, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    np.savez_compressed(tmp_path / ARRAYS_FILE, allow_pickle=False, **arrays)  # what earlier versions wrote
    assert load_pipeline(tmp_path).predict_proba(TEXTS).tobytes() == pipeline.predict_proba(TEXTS).tobytes()


def test_other_pipelines_fall_back_to_skops(tmp_path: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    data = tiny_dataset()
    pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression())])  # no FeatureUnion
    pipeline.fit(list(data.texts), list(data.labels))
    assert linear_text_spec(pipeline) is None
    save_pipeline(pipeline, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {MODEL_FILE, "vocabulary.json"}
    assert load_pipeline(tmp_path).predict_proba(TEXTS).tobytes() == pipeline.predict_proba(TEXTS).tobytes()


def test_loading_a_tfidf_bundle_never_imports_skops(tiny_bundle: Bundle) -> None:
    # skops' import lists every scikit-learn estimator (and PyTorch where installed): seconds of cold start.
    code = (
        "import sys\n"
        "from nlpops.runtimes import load_predictor\n"
        f"p = load_predictor({str(tiny_bundle.path)!r})\n"
        "p.predict_proba(['my card'])\n"
        "print('skops' in sys.modules, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["False", "False"]


def _spec(directory: Path) -> dict:
    return json.loads((directory / SPEC_FILE).read_text(encoding="utf-8"))


def test_refuses_classes_outside_the_allow_list(tmp_path: Path) -> None:
    save_pipeline(_fitted(), tmp_path)
    spec = _spec(tmp_path)
    spec["classifier"]["class"] = "os.system"
    (tmp_path / SPEC_FILE).write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(RuntimeLoadError, match=r"pipeline\.json.*not allowed"):
        load_pipeline(tmp_path)


def _saved_arrays(directory: Path) -> dict[str, np.ndarray]:
    save_pipeline(_fitted(), directory)
    with np.load(directory / ARRAYS_FILE, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def test_refuses_pickled_arrays(tmp_path: Path) -> None:
    arrays = _saved_arrays(tmp_path)
    arrays["clf.coef"] = np.array([object()], dtype=object)  # would need pickle to read back
    np.savez(tmp_path / ARRAYS_FILE, **arrays)
    with pytest.raises(RuntimeLoadError, match=r"pipeline\.npz"):
        load_pipeline(tmp_path)


def test_refuses_arrays_that_do_not_fit_the_vocabulary(tmp_path: Path) -> None:
    arrays = _saved_arrays(tmp_path)
    arrays["clf.coef"] = arrays["clf.coef"][:, :-1]
    np.savez(tmp_path / ARRAYS_FILE, allow_pickle=False, **arrays)
    with pytest.raises(RuntimeLoadError, match="do not fit"):
        load_pipeline(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(format="nlpops.linear-text-pipeline.v9"), "Upgrade nlpops"),
        (lambda s: s["classifier"]["params"].update(no_such_param=1), "no_such_param"),
        (lambda s: s["union"]["features"][0]["params"].update(ngram_range={"$lambda": "x"}), "encoding"),
    ],
)
def test_refuses_specs_it_cannot_rebuild(tmp_path: Path, change: object, message: str) -> None:
    save_pipeline(_fitted(), tmp_path)
    spec = _spec(tmp_path)
    change(spec)  # type: ignore[operator]
    (tmp_path / SPEC_FILE).write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(RuntimeLoadError, match=message):
        load_pipeline(tmp_path)


def test_older_skops_bundles_still_load(tmp_path: Path) -> None:
    fixture = Path(__file__).parents[1] / "fixtures" / "bundle-v1-tfidf"
    copy = Path(shutil.copytree(fixture, tmp_path / "b"))
    assert (copy / MODEL_FILE).is_file() and not (copy / SPEC_FILE).exists()
    assert load_pipeline(copy).predict_proba(TEXTS).shape == (len(TEXTS), 2)


def _fitted_multilabel(**settings: object) -> object:
    from nlpops.metrics import indicator
    from nlpops.testing import tiny_multilabel_dataset

    data = tiny_multilabel_dataset()
    pipeline = build_pipeline(TfidfSettings.model_validate(settings), multilabel=True)
    pipeline.fit(list(data.texts), indicator(data.label_sets or [], data.label_names()).astype(np.int64))
    return pipeline


@pytest.mark.parametrize("settings", [{}, {"char_ngrams": False, "class_weight": "balanced", "c": 1.0}])
def test_declared_multilabel_pipeline_round_trips_bit_for_bit(tmp_path: Path, settings: dict[str, object]) -> None:
    pipeline = _fitted_multilabel(**settings)
    save_pipeline(pipeline, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {SPEC_FILE, ARRAYS_FILE, "vocabulary.json"}
    assert _spec(tmp_path)["classifier"]["class"] == "OneVsRestClassifier"
    loaded = load_pipeline(tmp_path)
    assert loaded.get_params(deep=True).keys() == pipeline.get_params(deep=True).keys()
    assert loaded.predict_proba(TEXTS).tobytes() == pipeline.predict_proba(TEXTS).tobytes()
    assert loaded.decision_function(TEXTS).tobytes() == pipeline.decision_function(TEXTS).tobytes()
    assert np.array_equal(_dense(loaded.predict(TEXTS)), _dense(pipeline.predict(TEXTS)))


def _dense(matrix: object) -> np.ndarray:
    return np.asarray(matrix.toarray() if hasattr(matrix, "toarray") else matrix)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["classifier"]["estimator"].update({"class": "builtins.eval"}), "not allowed"),
        (lambda s: s["classifier"].update(outputs=9), "do not fit"),
    ],
)
def test_refuses_multilabel_specs_it_cannot_rebuild(tmp_path: Path, change: object, message: str) -> None:
    save_pipeline(_fitted_multilabel(), tmp_path)
    spec = _spec(tmp_path)
    change(spec)  # type: ignore[operator]
    (tmp_path / SPEC_FILE).write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(RuntimeLoadError, match=message):
        load_pipeline(tmp_path)


@pytest.mark.parametrize("source", ["tiny", "skops-fixture"])
def test_predictor_answers_bit_for_bit_like_the_pipeline(tiny_bundle: Bundle, tmp_path: Path, source: str) -> None:
    # the runtime skips the feature union's dispatch and scikit-learn's per-call checks: the same numbers
    from nlpops.runtimes import load_predictor

    path = tiny_bundle.path
    if source == "skops-fixture":
        path = Path(shutil.copytree(Path(__file__).parents[1] / "fixtures" / "bundle-v1-tfidf", tmp_path / "b"))
    pipeline = load_pipeline(path)
    predictor = load_predictor(path)
    for texts in (TEXTS[:1], TEXTS, TEXTS * 13):
        assert predictor.predict_proba(texts).tobytes() == pipeline.predict_proba(texts).tobytes()
