"""Fixtures of the language tests: small real model sets trained on the bundled multilingual datasets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from language_support import fast_config, per_language_sample

from nlpops.bundle import Bundle
from nlpops.data import Dataset, bundled_dataset, read_dataset
from nlpops.languages import train_by_language


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread() -> Iterator[None]:
    """On a small shared machine, BLAS threads oversubscribe the cores and slow L-BFGS down many times."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def sib_test() -> Dataset:
    return read_dataset(bundled_dataset("sib200", "test"))


@pytest.fixture(scope="session")
def xed_test() -> Dataset:
    return read_dataset(bundled_dataset("xed_emotion", "test"))


@pytest.fixture(scope="session")
def sib_set(tmp_path_factory: pytest.TempPathFactory, sib_test: Dataset) -> Bundle:
    """A per-language model set over the 12 sib200 languages (120 training rows each)."""
    train = per_language_sample(read_dataset(bundled_dataset("sib200", "train")), 120)
    out = tmp_path_factory.mktemp("sib") / "topics"
    return train_by_language(fast_config(), train, per_language_sample(sib_test, 20), out, "topics", "per-language")


@pytest.fixture(scope="session")
def xed_set(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A per-language model set over the 7 xed_emotion languages (200 training rows each)."""
    train = per_language_sample(read_dataset(bundled_dataset("xed_emotion", "train")), 200)
    out = tmp_path_factory.mktemp("xed") / "emotion"
    return train_by_language(fast_config(), train, None, out, "emotion", "per-language")


@pytest.fixture(scope="session")
def regional_test() -> Dataset:
    """40 test rows of each of sib200_regional's 11 languages (parallel: the same 40 sentences)."""
    return per_language_sample(read_dataset(bundled_dataset("sib200_regional", "test")), 40)


@pytest.fixture(scope="session")
def regional_set(tmp_path_factory: pytest.TempPathFactory, regional_test: Dataset) -> Bundle:
    """A per-language model set over sib200_regional (4 major, 7 regional languages; 150 training rows each)."""
    train = per_language_sample(read_dataset(bundled_dataset("sib200_regional", "train")), 150)
    out = tmp_path_factory.mktemp("regional") / "regional"
    return train_by_language(fast_config(), train, regional_test, out, "regional", "per-language")
