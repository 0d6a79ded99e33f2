"""Shared fixtures: tiny real models and an isolated registry home per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlpops.bundle import Bundle
from nlpops.testing import tiny_tfidf_bundle


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own registry home and no stray NLPOPS_* settings from the environment."""
    import os

    for key in list(os.environ):
        if key.startswith("NLPOPS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("NLPOPS_HOME", str(tmp_path / "nlpops-home"))


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A real TF-IDF bundle trained on a dozen sentences (read-only: copy it before changing it)."""
    return tiny_tfidf_bundle(tmp_path_factory.mktemp("tiny") / "bundle")


@pytest.fixture(scope="session")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A real model set (English and German TF-IDF models and a fallback) trained on 24 sentences."""
    from nlpops.testing.serving import tiny_model_set

    return tiny_model_set(tmp_path_factory.mktemp("tiny-set") / "bundle")


@pytest.fixture(scope="session")
def tiny_entities(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A real spaCy NER bundle (person, city) trained from spacy.blank("en") on a dozen sentences."""
    pytest.importorskip("spacy")
    from nlpops.testing import tiny_entities_bundle

    return tiny_entities_bundle(tmp_path_factory.mktemp("tiny-entities") / "bundle")


@pytest.fixture(scope="session")
def wnut17_ner(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A spaCy NER trained by nlpops from spacy.blank("en") on part of wnut17 (a few epochs, about a minute):
    good enough to find entities, not to be good at it."""
    pytest.importorskip("spacy")
    from nlpops.checklist import NlpopsConfig
    from nlpops.data import bundled_dataset, read_dataset
    from nlpops.families import build_bundle

    config = NlpopsConfig.model_validate({"name": "wnut17", "model": {"spacy": {"epochs": 4}}})
    train = read_dataset(bundled_dataset("wnut17", "train"))
    test = read_dataset(bundled_dataset("wnut17", "test"))
    return build_bundle(
        config, train.subset(range(2000)), test.subset(range(300)), tmp_path_factory.mktemp("wnut17") / "b"
    )
