"""Real tiny bundles for the export tests (built once per session, read-only)."""

from __future__ import annotations

import pytest

from nlpops.bundle import Bundle
from nlpops.checklist import NlpopsConfig
from nlpops.families import build_bundle
from nlpops.testing import tiny_dataset


@pytest.fixture(scope="session")
def word_tfidf_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A TF-IDF bundle with word n-grams only (what skl2onnx converts exactly)."""
    config = NlpopsConfig.model_validate({"name": "words", "model": {"tfidf": {"char_ngrams": False}}})
    data = tiny_dataset()
    return build_bundle(config, data, data, tmp_path_factory.mktemp("words") / "bundle", name="words")
