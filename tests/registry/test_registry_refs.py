"""parse_ref / resolve_ref: bundle paths, NAME, NAME@ALIAS, NAME:VERSION, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpops.errors import NlpopsError, NotFoundError, RegistryError
from nlpops.registry import ModelRef, SqliteRegistry, parse_ref, resolve_ref


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("intent", ModelRef(kind="alias", text="intent", name="intent", alias="production")),
        ("intent@staging", ModelRef(kind="alias", text="intent@staging", name="intent", alias="staging")),
        ("intent-en.v2@canary-1", ModelRef("alias", "intent-en.v2@canary-1", name="intent-en.v2", alias="canary-1")),
        ("intent:3", ModelRef(kind="version", text="intent:3", name="intent", version=3)),
        (" intent:12 ", ModelRef(kind="version", text=" intent:12 ", name="intent", version=12)),
        ("./models/intent", ModelRef(kind="path", text="./models/intent", path=Path("models/intent"))),
        ("models/intent@x", ModelRef(kind="path", text="models/intent@x", path=Path("models/intent@x"))),
        (".nlpops", ModelRef(kind="path", text=".nlpops", path=Path(".nlpops"))),
        ("/abs/bundle:3", ModelRef(kind="path", text="/abs/bundle:3", path=Path("/abs/bundle:3"))),
    ],
)
def test_parse_ref_forms(text: str, expected: ModelRef) -> None:
    assert parse_ref(text) == expected


def test_parse_ref_existing_directory_is_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_ref("intent").kind == "alias"
    (tmp_path / "intent").mkdir()
    assert parse_ref("intent") == ModelRef(kind="path", text="intent", path=Path("intent"))


def test_parse_ref_str_round_trips() -> None:
    assert str(parse_ref("intent")) == "intent@production"
    assert str(parse_ref("intent:4")) == "intent:4"
    assert str(parse_ref("./b")) == "b"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("intent@", "not a valid alias"),
        ("intent@Prod", "not a valid alias"),
        ("intent@3", r"is a version number, not an alias\. Use intent:3"),
        ("intent:", "not a version number"),
        ("intent:0", "not a version number"),
        ("intent:-1", "not a version number"),
        ("intent:production", r"For an alias use intent@production"),
        ("intent:٣", "not a version number"),
        ("@production", "not a valid model name"),
        (":3", "not a valid model name"),
        ("in tent", "not a valid model name"),
        ("a@b@c", "not a valid alias"),
    ],
)
def test_parse_ref_refuses_malformed(text: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message) as info:
        parse_ref(text)
    if text.strip():
        assert str(info.value).startswith(f'Model reference "{text}"')


def test_parse_ref_refuses_non_string() -> None:
    with pytest.raises(RegistryError, match="must be a string"):
        parse_ref(3)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_ref_raises_only_nlpops_errors(text: str) -> None:
    try:
        ref = parse_ref(text)
    except NlpopsError:
        return
    assert ref.kind in {"path", "alias", "version"}
    if ref.kind == "path":
        assert ref.path is not None
    else:
        assert ref.name
        assert (ref.alias is None) != (ref.version is None)


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
    st.integers(min_value=1, max_value=10**6),
)
def test_parse_ref_valid_names_parse_back(name: str, alias: str, version: int) -> None:
    assert parse_ref(f"{name}@{alias}") == ModelRef("alias", f"{name}@{alias}", name=name, alias=alias)
    assert parse_ref(f"{name}:{version}") == ModelRef("version", f"{name}:{version}", name=name, version=version)


def test_resolve_ref_registry_forms(tmp_path: Path, make_bundle) -> None:
    reg = SqliteRegistry(tmp_path / ".nlpops")
    first = reg.register(make_bundle())
    second = reg.register(make_bundle())
    reg.promote("intent", 1)
    reg.promote("intent", 2, alias="staging")
    assert resolve_ref("intent", reg) == (first.bundle_path, first)
    assert resolve_ref("intent@production", reg) == (first.bundle_path, first)
    assert resolve_ref("intent@staging", reg) == (second.bundle_path, second)
    assert resolve_ref("intent:2", reg) == (second.bundle_path, second)
    assert resolve_ref(parse_ref("intent:1"), reg) == (first.bundle_path, first)


def test_resolve_ref_path(make_bundle) -> None:
    bundle = make_bundle()
    assert resolve_ref(str(bundle), None) == (bundle, None)


def test_resolve_ref_errors(tmp_path: Path, make_bundle) -> None:
    reg = SqliteRegistry(tmp_path / ".nlpops")
    reg.register(make_bundle())
    with pytest.raises(NotFoundError) as info:
        resolve_ref("intent", reg)
    assert str(info.value) == (
        'Model "intent" has no alias "production". Promote a version first: nlpops registry promote intent 1'
    )
    with pytest.raises(NotFoundError) as info:
        resolve_ref("x", reg)
    assert str(info.value) == (
        f'No model named "x" in the registry at {tmp_path / ".nlpops"} (known: intent). '
        "Register one: nlpops train --register"
    )
    with pytest.raises(NotFoundError, match="has no version 5"):
        resolve_ref("intent:5", reg)
    with pytest.raises(NotFoundError, match=r'Bundle ".*missing" does not exist'):
        resolve_ref(str(tmp_path / "missing"), reg)
    with pytest.raises(RegistryError, match="no registry is configured"):
        resolve_ref("intent", None)
