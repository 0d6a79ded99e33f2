"""Shared data of the advisor tests: each folder under scenarios/ holds nlpops.yaml and expected.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SCENARIOS = sorted(p for p in (HERE / "scenarios").iterdir() if p.is_dir())


def read_profile(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((HERE / "profiles" / name).read_text(encoding="utf-8"))
    return data
