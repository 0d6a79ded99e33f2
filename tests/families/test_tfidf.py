"""The TF-IDF family loses nothing against a plain scikit-learn pipeline, and bundles reload bit for bit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nlpops.checklist import NlpopsConfig
from nlpops.data import bundled_dataset, read_dataset
from nlpops.families import build_bundle
from nlpops.runtimes import load_predictor


def plain_sklearn_macro_f1(dataset: str) -> float:
    """The same parameters as nlpops' defaults, written out by hand with scikit-learn only."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.pipeline import FeatureUnion, Pipeline

    train = read_dataset(bundled_dataset(dataset, "train"))
    test = read_dataset(bundled_dataset(dataset, "test"))
    pipeline = Pipeline(
        [
            (
                "features",
                FeatureUnion(
                    [
                        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)),
                    ]
                ),
            ),
            ("clf", LogisticRegression(C=10.0, max_iter=2000)),
        ]
    )
    pipeline.fit(train.texts, train.labels)
    return float(f1_score(test.labels, pipeline.predict(test.texts), average="macro"))


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["sms_spam", "banking77"])
def test_tfidf_macro_f1_matches_plain_sklearn(dataset: str, tmp_path: Path) -> None:
    train = read_dataset(bundled_dataset(dataset, "train"))
    test = read_dataset(bundled_dataset(dataset, "test"))
    bundle = build_bundle(NlpopsConfig(), train, test, tmp_path / "b", name=dataset)
    ours = bundle.manifest.metrics["macro_f1"]
    assert ours >= plain_sklearn_macro_f1(dataset) - 1e-12
    assert ours > (0.95 if dataset == "sms_spam" else 0.88)
    # what the bundle says equals what a reloaded predictor does on the same test set
    predicted = [label for label, _ in load_predictor(bundle.path).predict(test.texts)]
    agree = np.mean([p == t for p, t in zip(predicted, test.labels, strict=True)])
    assert agree == pytest.approx(bundle.manifest.metrics["accuracy"])


def test_tfidf_probabilities_reload_bit_for_bit_in_a_fresh_process(tmp_path: Path) -> None:
    train = read_dataset(bundled_dataset("sms_spam", "train"))
    test = read_dataset(bundled_dataset("sms_spam", "test"))
    bundle = build_bundle(NlpopsConfig(), train, test, tmp_path / "b", name="spam")
    texts = test.texts[:300]
    in_process = load_predictor(bundle.path).predict_proba(texts)
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    script = (
        "import json, sys, numpy as np; from nlpops import load; "
        f"texts = json.load(open({str(tmp_path / 'texts.json')!r})); "
        f"np.save({str(tmp_path / 'fresh.npy')!r}, load({str(bundle.path)!r}).predict_proba(texts))"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    fresh = np.load(tmp_path / "fresh.npy")
    assert fresh.dtype == in_process.dtype and fresh.shape == (300, 2)
    assert fresh.tobytes() == in_process.tobytes()
    assert np.allclose(fresh.sum(axis=1), 1.0)


def test_tfidf_linear_svc_gives_probabilities(tmp_path: Path) -> None:
    from nlpops.testing import tiny_dataset

    config = NlpopsConfig.model_validate({"model": {"tfidf": {"classifier": "linear_svc", "c": 0.5}}})
    data = tiny_dataset()
    bundle = build_bundle(config, data, data, tmp_path / "b")
    proba = load_predictor(bundle.path).predict_proba(["lost card", "refund my fee"])
    assert proba.shape == (2, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert [bundle.manifest.labels[i] for i in proba.argmax(axis=1)] == ["card", "money"]
