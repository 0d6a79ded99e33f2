"""Fixtures of the monitoring tests: a real SMS-spam model whose reference is half of the test split."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlpops.bundle import Bundle
from nlpops.checklist import NlpopsConfig
from nlpops.data import Dataset, bundled_dataset, read_dataset
from nlpops.families import build_bundle

REFERENCE_ROWS = 500


@pytest.fixture(scope="session")
def spam_test() -> Dataset:
    """The SMS-spam test split (about 1000 rows)."""
    return read_dataset(bundled_dataset("sms_spam", "test"))


@pytest.fixture(scope="session")
def spam_bundle(tmp_path_factory: pytest.TempPathFactory, spam_test: Dataset) -> Bundle:
    """TF-IDF on 2000 SMS-spam rows; its reference statistics come from the first 500 test rows."""
    train = read_dataset(bundled_dataset("sms_spam", "train"))
    config = NlpopsConfig.model_validate({"name": "spam", "model": {"tfidf": {"char_ngrams": False, "c": 5.0}}})
    reference = spam_test.subset(range(REFERENCE_ROWS))
    out = Path(tmp_path_factory.mktemp("spam")) / "bundle"
    return build_bundle(config, train.subset(range(2000)), reference, out, name="spam")


@pytest.fixture(scope="session")
def same_distribution(spam_test: Dataset) -> list[str]:
    """SMS texts the reference did not see: the other half of the test split."""
    return spam_test.texts[REFERENCE_ROWS:]


@pytest.fixture(scope="session")
def other_distribution() -> list[str]:
    """Banking questions: another dataset, another distribution."""
    return read_dataset(bundled_dataset("banking77", "test")).texts[:500]
