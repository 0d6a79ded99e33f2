"""Real tiny bundles for the runtime tests: TF-IDF and a tiny random BERT, each exported to ONNX."""

from __future__ import annotations

import pytest

from nlpops.bundle import Bundle
from nlpops.checklist import NlpopsConfig
from nlpops.export import export_bundle
from nlpops.families import build_bundle
from nlpops.testing import tiny_dataset
from nlpops.testing.conformance import tiny_transformer_bundle


@pytest.fixture(scope="session")
def onnx_tfidf_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    root = tmp_path_factory.mktemp("onnx-tfidf")
    config = NlpopsConfig.model_validate({"name": "words", "model": {"tfidf": {"char_ngrams": False}}})
    data = tiny_dataset()
    source = build_bundle(config, data, data, root / "sk", name="words")
    return export_bundle(source, root / "onnx").bundle


@pytest.fixture(scope="session")
def torch_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return tiny_transformer_bundle(tmp_path_factory.mktemp("torch") / "bundle")


@pytest.fixture(scope="session")
def onnx_encoder_bundle(torch_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return export_bundle(torch_bundle, tmp_path_factory.mktemp("onnx-encoder") / "bundle").bundle
