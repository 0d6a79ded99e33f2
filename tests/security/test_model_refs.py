"""Model references: whatever a user types is parsed or refused with a clear nlpops error, never an internal one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpops.bundle import Bundle
from nlpops.errors import NlpopsError, NotFoundError, RegistryError
from nlpops.registry import SqliteRegistry, parse_ref, resolve_ref

HUGE = ["99999999999999999999999", str(2**63), "9" * 5000]


@pytest.fixture
def registry(tmp_path: Path, tiny_bundle: Bundle) -> SqliteRegistry:
    registry = SqliteRegistry(tmp_path / "home")
    registry.register(tiny_bundle.path)
    registry.promote("tiny", 1)
    return registry


@pytest.mark.parametrize("number", HUGE)
def test_huge_version_number_is_not_found(registry: SqliteRegistry, number: str) -> None:
    with pytest.raises(NotFoundError, match="has no version"):
        resolve_ref(f"tiny:{number}", registry)
    with pytest.raises(NotFoundError, match="has no version"):
        registry.resolve("tiny", number)
    with pytest.raises(NotFoundError, match="has no version"):
        registry.get("tiny", int(number) if len(number) < 100 else 10**99)


def test_largest_version_number_is_an_ordinary_miss(registry: SqliteRegistry) -> None:
    with pytest.raises(NotFoundError, match="has no version"):
        resolve_ref(f"tiny:{2**63 - 1}", registry)


def test_cli_huge_version_is_one_clear_line(tmp_path: Path, registry: SqliteRegistry) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nlpops", "predict", "tiny:99999999999999999999999", "hello"],
        capture_output=True,
        text=True,
        env={"NLPOPS_HOME": registry.location, "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "has no version" in result.stderr and "Internal" not in result.stderr


_REF_CHARS = st.sampled_from([*"abcxyz019@:./\\-_ ~%", "9" * 25, "production", "\x00", "é", "\n"])


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(max_size=40), st.lists(_REF_CHARS, max_size=8).map("".join)))
def test_any_reference_parses_or_is_refused_clearly(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    """parse_ref and resolve_ref raise nothing but nlpops errors (RegistryError for malformed references)."""
    try:
        ref = parse_ref(text)
    except RegistryError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
        return
    home = tmp_path_factory.getbasetemp() / "refs-home"
    try:
        resolve_ref(ref, SqliteRegistry(home))
    except NlpopsError as exc:
        assert str(exc)
