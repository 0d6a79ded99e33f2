"""Fixtures of the advisor tests."""

from __future__ import annotations

import pytest

from nlpops.advisor import RuleBook, load_rules


@pytest.fixture(scope="session")
def rules() -> RuleBook:
    """The shipped rules."""
    return load_rules()
