"""Fixtures of the serving tests."""

from __future__ import annotations

import pytest

from nlpops.bundle import Bundle
from nlpops.testing import tiny_tfidf_bundle


@pytest.fixture(scope="session")
def other_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """A second tiny model with other probabilities (weaker regularisation), same name."""
    return tiny_tfidf_bundle(tmp_path_factory.mktemp("bundles") / "other", name="tiny", c=0.1)
