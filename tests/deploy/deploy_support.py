"""Plans of the advisor's scenarios (tests/advisor/scenarios), built with make_plan, for the deploy tests.

A module of its own (not conftest): test modules import SCENARIOS by name, and ``from conftest import`` finds
whichever conftest another folder put first on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from nlpops.advisor import load_rules, make_plan
from nlpops.checklist import load_config

ADVISOR_TESTS = Path(__file__).parent.parent / "advisor"
SCENARIOS = sorted(p for p in (ADVISOR_TESTS / "scenarios").iterdir() if p.is_dir())


def build_plan(folder: Path) -> dict[str, Any]:
    """The plan of one advisor scenario (its nlpops.yaml and the profile its expected.yaml names)."""
    if str(ADVISOR_TESTS) not in sys.path:
        sys.path.insert(0, str(ADVISOR_TESTS))
    from advisor_fixtures import read_profile

    expected = yaml.safe_load((folder / "expected.yaml").read_text(encoding="utf-8"))
    return make_plan(load_config(folder / "nlpops.yaml"), read_profile(expected["profile"]), load_rules())
