"""Plans of the advisor's scenarios, built once per session, for the deploy tests."""

from __future__ import annotations

from typing import Any

import pytest
from deploy_support import SCENARIOS, build_plan


@pytest.fixture(scope="session")
def plans() -> dict[str, dict[str, Any]]:
    """Every scenario's plan, by scenario name."""
    return {folder.name: build_plan(folder) for folder in SCENARIOS}
