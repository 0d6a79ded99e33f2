"""A damaged or restored registry never loses a stored version: no re-initialisation over existing artifacts,
no writes on read paths, no stored artifact ever overwritten."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nlpops.bundle import load_bundle
from nlpops.errors import RegistryError
from nlpops.registry import SqliteRegistry
from nlpops.testing import TINY_TEXTS, tiny_tfidf_bundle

RESTORE_OR_REBUILD = "Restore registry.db from a backup, or rebuild it from the stored bundles: nlpops registry rebuild"


def _tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (relative path -> digest)."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _nlpops(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NLPOPS_")}
    env["NLPOPS_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "nlpops", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture
def populated(tmp_path: Path) -> tuple[Path, Path]:
    """A registry home with three versions of "tiny" (real TF-IDF bundles), and a training CSV."""
    home = tmp_path / "home"
    registry = SqliteRegistry(home)
    for i in range(3):
        registry.register(tiny_tfidf_bundle(tmp_path / f"b{i}", name="tiny", c=1.0 + i).path)
    registry.promote("tiny", 2)
    data = tmp_path / "train.csv"
    data.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in TINY_TEXTS), encoding="utf-8")
    return home, data


def test_truncated_registry_db_refuses_list_and_register_and_keeps_every_version(
    populated: tuple[Path, Path], tmp_path: Path
) -> None:
    home, data = populated
    artifacts = home / "artifacts"
    before = _tree_digest(artifacts)
    assert len({name.split("/")[1] for name in before}) == 3
    (home / "registry.db").write_bytes(b"")
    for suffix in ("-wal", "-shm"):
        (home / f"registry.db{suffix}").unlink(missing_ok=True)

    listed = _nlpops("registry", "list", cwd=tmp_path, home=home)
    assert listed.returncode == 1, listed.stdout + listed.stderr
    assert RESTORE_OR_REBUILD in listed.stderr and "Traceback" not in listed.stderr
    assert "No models" not in listed.stdout
    assert (home / "registry.db").stat().st_size == 0  # the read wrote nothing

    trained = _nlpops("train", "--data", str(data), "--name", "tiny", "--register", cwd=tmp_path, home=home)
    assert trained.returncode == 1, trained.stdout + trained.stderr
    assert RESTORE_OR_REBUILD in trained.stderr and "Traceback" not in trained.stderr
    assert (home / "registry.db").stat().st_size == 0
    assert _tree_digest(artifacts) == before


def test_rebuild_restores_every_stored_version_with_its_number(populated: tuple[Path, Path], tmp_path: Path) -> None:
    home, _ = populated
    before = _tree_digest(home / "artifacts")
    (home / "registry.db").write_bytes(b"")
    rebuilt = _nlpops("registry", "rebuild", cwd=tmp_path, home=home)
    assert rebuilt.returncode == 0, rebuilt.stderr
    said = " ".join(rebuilt.stdout.split())
    assert "3 versions of 1 models" in said and "Aliases, the event log and attachments were not" in said
    registry = SqliteRegistry(home)
    assert [v.version for v in registry.list_versions("tiny")] == [1, 2, 3]
    assert all(load_bundle(v.bundle_path).manifest.name == "tiny" for v in registry.list_versions("tiny"))
    assert registry.register(tiny_tfidf_bundle(tmp_path / "next", name="tiny").path).version == 4
    after = _tree_digest(home / "artifacts")
    assert {k: v for k, v in after.items() if not k.startswith("tiny/4/")} == before
    damaged = [p.name for p in home.iterdir() if p.name.startswith("registry.db.damaged-")]
    assert len(damaged) == 1  # the damaged file is kept, never deleted


def test_rebuild_refuses_a_healthy_registry(populated: tuple[Path, Path]) -> None:
    home, _ = populated
    with pytest.raises(RegistryError, match="is healthy"):
        SqliteRegistry(home).rebuild()
    assert [v.version for v in SqliteRegistry(home).list_versions("tiny")] == [1, 2, 3]


def test_reads_never_create_or_change_registry_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "registry.db").write_bytes(b"")
    registry = SqliteRegistry(home)
    assert registry.list_models() == []  # an empty file and no artifacts: an empty registry
    assert registry.alias_target("x", "production") is None
    assert sorted(p.name for p in home.iterdir()) == ["registry.db"]
    assert (home / "registry.db").stat().st_size == 0


def test_restored_older_database_never_overwrites_a_later_version(populated: tuple[Path, Path], tmp_path: Path) -> None:
    home, _ = populated
    db = home / "registry.db"
    registry = SqliteRegistry(home)
    backup = tmp_path / "backup.db"
    import sqlite3

    with sqlite3.connect(db) as source, sqlite3.connect(backup) as target:
        source.backup(target)  # a backup taken with 3 versions
    registry.register(tiny_tfidf_bundle(tmp_path / "v4", name="tiny", c=7.0).path)
    v4 = _tree_digest(home / "artifacts" / "tiny" / "4")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    backup.rename(db)  # restored from the backup: version 4 has no row, its folder is still there
    fresh = SqliteRegistry(home).register(tiny_tfidf_bundle(tmp_path / "v5", name="tiny", c=9.0).path)
    assert fresh.version == 5  # version numbers are never reused
    assert _tree_digest(home / "artifacts" / "tiny" / "4") == v4
    with pytest.raises(RegistryError):
        SqliteRegistry(home).get("tiny", 4)
