"""SqliteRegistry round trips, aliases, rollback, events, attachments and failures, on real files."""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nlpops.bundle import load_bundle
from nlpops.errors import BundleError, NotFoundError, RegistryError
from nlpops.registry import Registry, SqliteRegistry, current_user

FIXED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_sqlite_registry_is_a_registry(home: Path) -> None:
    assert isinstance(SqliteRegistry(home), Registry)


def test_sqlite_register_stores_verified_copy_and_metadata(home: Path, make_bundle) -> None:
    src = make_bundle(name="intent", version="20250101T000000Z", metrics={"macro_f1": 0.9})
    reg = SqliteRegistry(home, actor="alice", clock=lambda: FIXED)
    mv = reg.register(src)
    assert (mv.name, mv.version, mv.bundle_version) == ("intent", 1, "20250101T000000Z")
    assert (mv.family, mv.runtime, mv.created_by) == ("tfidf", "sklearn", "alice")
    assert mv.metrics == {"macro_f1": 0.9}
    assert mv.created_at == "2025-01-02T03:04:05.000+00:00"
    assert mv.bundle_path.is_absolute()
    assert mv.bundle_path == home.resolve() / "artifacts" / "intent" / "1"
    assert load_bundle(mv.bundle_path).manifest.version == "20250101T000000Z"
    assert (home / "registry.db").is_file()
    assert not any((home / "staging").iterdir())
    assert reg.get("intent", 1) == mv


def test_sqlite_register_numbers_versions_per_name(home: Path, make_bundle) -> None:
    reg = SqliteRegistry(home)
    assert [reg.register(make_bundle(name="a")).version for _ in range(3)] == [1, 2, 3]
    assert reg.register(make_bundle(name="b")).version == 1
    assert reg.register(make_bundle(name="a"), name="c").version == 1
    assert reg.list_models() == ["a", "b", "c"]
    assert [v.version for v in reg.list_versions("a")] == [1, 2, 3]
    assert reg.get("c", 1).name == "c"


def test_sqlite_default_actor_is_os_user(home: Path, make_bundle) -> None:
    mv = SqliteRegistry(home).register(make_bundle())
    assert mv.created_by == current_user() != ""


def test_sqlite_reads_of_missing_home_find_nothing_and_write_nothing(home: Path) -> None:
    reg = SqliteRegistry(home)
    assert reg.list_models() == []
    assert reg.events() == []
    assert reg.alias_target("x", "production") is None
    with pytest.raises(NotFoundError, match="No model named"):
        reg.list_versions("x")
    assert not home.exists()


def test_sqlite_promote_resolve_and_aliases(home: Path, make_bundle) -> None:
    reg = SqliteRegistry(home, actor="bob")
    for _ in range(3):
        reg.register(make_bundle())
    event = reg.promote("intent", 2)
    assert (event.action, event.version, event.alias, event.previous_version) == ("promoted", 2, "production", None)
    assert event.actor == "bob"
    reg.promote("intent", 3, alias="staging")
    assert reg.aliases("intent") == {"production": 2, "staging": 3}
    assert reg.alias_target("intent", "production") == 2
    assert reg.alias_target("intent", "canary") is None
    assert reg.resolve("intent", "production").version == 2
    assert reg.resolve("intent", "staging").version == 3
    assert reg.resolve("intent", "1").version == 1
    second = reg.promote("intent", 3)
    assert second.previous_version == 2
    assert reg.resolve("intent", "production").version == 3


def test_sqlite_rollback_walks_back_through_history(home: Path, make_bundle) -> None:
    reg = SqliteRegistry(home)
    for _ in range(3):
        reg.register(make_bundle())
    for version in (1, 2, 3):
        reg.promote("intent", version)
    first = reg.rollback("intent")
    assert (first.action, first.version, first.previous_version) == ("rolled_back", 2, 3)
    assert reg.alias_target("intent", "production") == 2
    second = reg.rollback("intent")
    assert (second.version, second.previous_version) == (1, 2)
    assert reg.alias_target("intent", "production") == 1
    with pytest.raises(RegistryError, match="nothing to roll back to") as info:
        reg.rollback("intent")
    assert not isinstance(info.value, NotFoundError)
    assert reg.alias_target("intent", "production") == 1


def test_sqlite_rollback_after_repromote_and_per_alias(home: Path, make_bundle) -> None:
    reg = SqliteRegistry(home)
    for _ in range(4):
        reg.register(make_bundle())
    reg.promote("intent", 1)
    reg.promote("intent", 1)  # same target: not a move, nothing new to roll back to
    reg.promote("intent", 2)
    reg.promote("intent", 4, alias="staging")
    reg.promote("intent", 3, alias="staging")
    assert reg.rollback("intent", alias="staging").version == 4
    assert reg.alias_target("intent", "production") == 2
    assert reg.rollback("intent").version == 1
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        reg.rollback("intent")


def test_sqlite_rollback_without_alias_or_model(home: Path, make_bundle) -> None:
    reg = SqliteRegistry(home)
    reg.register(make_bundle())
    with pytest.raises(NotFoundError, match=r'has no alias "production"\. Promote a version first: .* intent 1'):
        reg.rollback("intent")
    with pytest.raises(NotFoundError, match=r'No model named "nope" .*known: intent'):
        reg.rollback("nope")


def test_sqlite_unknown_names_versions_and_aliases(home: Path, make_bundle) -> None:
    reg = SqliteRegistry(home)
    reg.register(make_bundle(name="a"))
    reg.register(make_bundle(name="b"))
    location = str(home)
    with pytest.raises(NotFoundError) as info:
        reg.get("x", 1)
    assert str(info.value) == (
        f'No model named "x" in the registry at {location} (known: a, b). Register one: nlpops train --register'
    )
    with pytest.raises(NotFoundError, match=r"has no version 7 \(latest is 1\)"):
        reg.get("a", 7)
    with pytest.raises(NotFoundError, match="has no version 2"):
        reg.promote("a", 2)
    with pytest.raises(NotFoundError, match="No model named"):
        reg.promote("x", 1)
    with pytest.raises(NotFoundError, match="No model named"):
        reg.aliases("x")
    with pytest.raises(NotFoundError) as info:
        reg.resolve("a", "production")
    assert str(info.value) == (
        'Model "a" has no alias "production". Promote a version first: nlpops registry promote a 1'
    )
    with pytest.raises(NotFoundError, match="--alias staging"):
        reg.resolve("a", "staging")
    with pytest.raises(NotFoundError, match="No model named"):
        reg.resolve("x", "production")
    with pytest.raises(NotFoundError, match="has no version 9"):
        reg.resolve("a", "9")
    assert reg.aliases("a") == {}


@pytest.mark.parametrize("alias", ["", "Production", "1st", "prod uction", "prod\n", "a.b", "é", "-x"])
def test_sqlite_promote_refuses_bad_alias(home: Path, make_bundle, alias: str) -> None:
    reg = SqliteRegistry(home)
    reg.register(make_bundle())
    with pytest.raises(RegistryError, match="Invalid alias"):
        reg.promote("intent", 1, alias=alias)
    assert reg.aliases("intent") == {}
    assert [e.action for e in reg.events()] == ["registered"]


@pytest.mark.parametrize("alias", ["production", "staging", "canary-2", "a_b", "x"])
def test_sqlite_promote_accepts_any_good_alias(home: Path, make_bundle, alias: str) -> None:
    reg = SqliteRegistry(home)
    reg.register(make_bundle())
    reg.promote("intent", 1, alias=alias)
    assert reg.resolve("intent", alias).version == 1


@pytest.mark.parametrize("version", [0, -1, True, "1", 1.0])
def test_sqlite_promote_refuses_bad_version_number(home: Path, make_bundle, version: object) -> None:
    reg = SqliteRegistry(home)
    reg.register(make_bundle())
    with pytest.raises(RegistryError, match="Invalid version"):
        reg.promote("intent", version)  # type: ignore[arg-type]


def test_sqlite_events_log_everything_in_order(home: Path, make_bundle) -> None:
    reg = SqliteRegistry(home, actor="carol")
    reg.register(make_bundle(name="a"))
    reg.register(make_bundle(name="a"))
    reg.register(make_bundle(name="b"))
    reg.promote("a", 1)
    reg.promote("a", 2)
    reg.rollback("a")
    events = reg.events()
    assert [(e.action, e.name, e.version, e.alias, e.previous_version) for e in events] == [
        ("registered", "a", 1, None, None),
        ("registered", "a", 2, None, None),
        ("registered", "b", 1, None, None),
        ("promoted", "a", 1, "production", None),
        ("promoted", "a", 2, "production", 1),
        ("rolled_back", "a", 1, "production", 2),
    ]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert all(e.actor == "carol" for e in events)
    assert [e.version for e in reg.events(name="b")] == [1]
    assert [e.action for e in reg.events(limit=2)] == ["promoted", "rolled_back"]
    assert [e.action for e in reg.events(name="a", limit=1)] == ["rolled_back"]
    assert reg.events(limit=0) == []
    with pytest.raises(RegistryError, match="limit"):
        reg.events(limit=-1)


def test_sqlite_event_log_is_append_only(home: Path, make_bundle) -> None:
    reg = SqliteRegistry(home)
    reg.register(make_bundle())
    conn = sqlite3.connect(home / "registry.db")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM events")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE events SET actor = 'mallory'")
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            conn.execute("UPDATE versions SET bundle_version = 'x'")
    finally:
        conn.close()
    assert len(reg.events()) == 1


def test_sqlite_database_uses_wal(home: Path, make_bundle) -> None:
    SqliteRegistry(home).register(make_bundle())
    conn = sqlite3.connect(home / "registry.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_sqlite_register_refuses_tampered_bundle_and_writes_nothing(home: Path, make_bundle) -> None:
    src = make_bundle()
    (src / "weights.txt").write_text("tampered\n", encoding="utf-8")
    reg = SqliteRegistry(home)
    with pytest.raises(BundleError, match="failed verification"):
        reg.register(src)
    assert not home.exists()


def test_sqlite_register_refuses_tampered_bundle_in_existing_home(home: Path, make_bundle) -> None:
    reg = SqliteRegistry(home)
    reg.register(make_bundle())
    bad = make_bundle()
    (bad / "extra.bin").write_bytes(b"\x00")
    with pytest.raises(BundleError, match="unexpected file"):
        reg.register(bad)
    assert [v.version for v in reg.list_versions("intent")] == [1]
    assert sorted(p.name for p in (home / "artifacts" / "intent").iterdir()) == ["1"]
    assert list((home / "staging").iterdir()) == []
    assert len(reg.events()) == 1


def test_sqlite_register_refuses_missing_bundle(home: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        SqliteRegistry(home).register(tmp_path / "nope")
    assert not home.exists()


@pytest.mark.parametrize("name", ["", "a/b", "../x", ".hidden", "has space", "x" * 129, "a@b", "a:b"])
def test_sqlite_register_refuses_bad_name(home: Path, make_bundle, name: str) -> None:
    with pytest.raises(RegistryError, match="Invalid model name"):
        SqliteRegistry(home).register(make_bundle(), name=name)
    assert not home.exists()


def test_sqlite_register_refuses_names_differing_only_in_case(home: Path, make_bundle) -> None:
    reg = SqliteRegistry(home)
    reg.register(make_bundle(name="intent"))
    with pytest.raises(RegistryError, match='differs only in case from the registered model "intent"'):
        reg.register(make_bundle(), name="Intent")
    assert reg.list_models() == ["intent"]
    assert list((home / "staging").iterdir()) == []


def test_sqlite_register_never_replaces_an_orphan_folder_from_crash(home: Path, make_bundle) -> None:
    reg = SqliteRegistry(home)
    reg.register(make_bundle())
    orphan = home / "artifacts" / "intent" / "2"
    orphan.mkdir()
    (orphan / "half-copied").write_text("x", encoding="utf-8")
    mv = reg.register(make_bundle(version="second"))
    assert mv.version == 3  # the number after every folder on disk: numbers are never reused
    assert load_bundle(mv.bundle_path).manifest.version == "second"
    assert (orphan / "half-copied").read_text(encoding="utf-8") == "x"
    assert [v.version for v in reg.list_versions("intent")] == [1, 3]


def test_sqlite_registry_survives_reopen(home: Path, make_bundle) -> None:
    SqliteRegistry(home).register(make_bundle())
    SqliteRegistry(home).promote("intent", 1)
    reg = SqliteRegistry(home)
    assert reg.resolve("intent", "production").version == 1
    assert len(reg.events()) == 2


def test_sqlite_relative_home_gives_absolute_bundle_path(tmp_path: Path, make_bundle, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    reg = SqliteRegistry(".nlpops")
    mv = reg.register(make_bundle())
    assert mv.bundle_path.is_absolute()
    assert mv.bundle_path == (tmp_path / ".nlpops" / "artifacts" / "intent" / "1").resolve()
    assert reg.location == ".nlpops"


def test_sqlite_attachments_round_trip(home: Path, make_bundle) -> None:
    reg = SqliteRegistry(home)
    reg.register(make_bundle())
    assert reg.load_attachment("intent", 1, "profile") is None
    reg.save_attachment("intent", 1, "profile", {"p95_ms": 3.5, "sizes": [1, 2], "nested": {"ok": True}})
    assert reg.load_attachment("intent", 1, "profile") == {"p95_ms": 3.5, "sizes": [1, 2], "nested": {"ok": True}}
    reg.save_attachment("intent", 1, "profile", {"p95_ms": 4.0})
    assert reg.load_attachment("intent", 1, "profile") == {"p95_ms": 4.0}
    assert reg.load_attachment("intent", 1, "other") is None
    assert load_bundle(reg.get("intent", 1).bundle_path).manifest.name == "intent"  # attachments leave it intact


def test_sqlite_attachments_refuse_bad_input(home: Path, make_bundle) -> None:
    reg = SqliteRegistry(home)
    reg.register(make_bundle())
    with pytest.raises(NotFoundError, match="has no version 2"):
        reg.save_attachment("intent", 2, "profile", {})
    with pytest.raises(NotFoundError, match="No model named"):
        reg.load_attachment("x", 1, "profile")
    with pytest.raises(NotFoundError, match="has no version 3"):
        reg.load_attachment("intent", 3, "profile")
    with pytest.raises(RegistryError, match="Invalid attachment key"):
        reg.save_attachment("intent", 1, "../evil", {})
    with pytest.raises(RegistryError, match="must be a dict"):
        reg.save_attachment("intent", 1, "profile", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="cannot be stored as JSON"):
        reg.save_attachment("intent", 1, "profile", {"when": datetime.now(UTC)})
    assert reg.load_attachment("intent", 1, "profile") is None


def test_sqlite_corrupt_database_gives_clear_error(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "registry.db").write_bytes(b"this is not a sqlite database, just some bytes" * 100)
    reg = SqliteRegistry(home)
    with pytest.raises(RegistryError, match=r"is corrupt or not an nlpops registry.*Restore registry.db from a backup"):
        reg.list_models()
    with pytest.raises(RegistryError, match="is corrupt"):
        reg.alias_target("x", "production")


def test_sqlite_corrupt_database_on_register_keeps_no_copy(home: Path, make_bundle) -> None:
    home.mkdir(parents=True)
    (home / "registry.db").write_bytes(b"garbage" * 1000)
    with pytest.raises(RegistryError, match="is corrupt"):
        SqliteRegistry(home).register(make_bundle())
    assert not (home / "artifacts").exists()
    assert list((home / "staging").iterdir()) == []


def test_sqlite_newer_schema_is_refused(home: Path, make_bundle) -> None:
    SqliteRegistry(home).register(make_bundle())
    conn = sqlite3.connect(home / "registry.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(RegistryError, match=r"schema v99.*Upgrade nlpops"):
        SqliteRegistry(home).list_models()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores file permissions")
def test_sqlite_unwritable_home_gives_clear_error(tmp_path: Path, make_bundle) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        with pytest.raises(RegistryError, match="Cannot write to the registry folder"):
            SqliteRegistry(parent / "home").register(make_bundle())
    finally:
        parent.chmod(0o700)
