"""Shared data of the advisor tests: each folder under scenarios/ holds nlpops.yaml and expected.yaml; profiles
are the fixtures of fixture_profiles.py (schema 2) or, under profiles/v1/, files written by an older nlpops."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fixture_profiles import PROFILES, profile

HERE = Path(__file__).parent
SCENARIOS = sorted(p for p in (HERE / "scenarios").iterdir() if p.is_dir())


def read_profile(name: str) -> dict[str, Any]:
    """A fixture profile by name (``tfidf_small.json``) or a file under profiles/ (``v1/tfidf_small.json``)."""
    if name in PROFILES:
        return profile(name)
    data: dict[str, Any] = json.loads((HERE / "profiles" / name).read_text(encoding="utf-8"))
    return data
