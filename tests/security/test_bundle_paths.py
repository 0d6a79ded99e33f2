"""Bundle paths stay inside the bundle: on load (every runtime) and on register (the registry's copy)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from security_support import rewrite_manifest

from nlpops.bundle import MANIFEST_NAME, Bundle, load_bundle
from nlpops.errors import BundleError, NlpopsError
from nlpops.registry import SqliteRegistry
from nlpops.runtimes import load_predictor


def _copy(bundle: Bundle, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(bundle.path, target)
    return target


def _list_outside(bundle_dir: Path, listed: str, outside: Path) -> None:
    """Move the bundle's vocabulary.json to ``outside`` and list it in the manifest as ``listed``."""
    shutil.move(bundle_dir / "vocabulary.json", outside)

    def edit(raw: dict[str, object]) -> None:
        files = dict(raw["files"])  # type: ignore[call-overload]
        files[listed] = files.pop("vocabulary.json")
        raw["files"] = files

    rewrite_manifest(bundle_dir, edit)


@pytest.mark.parametrize("form", ["dotdot", "absolute"])
def test_bundle_listing_a_path_outside_is_refused_on_load(tiny_bundle: Bundle, tmp_path: Path, form: str) -> None:
    bundle_dir = _copy(tiny_bundle, tmp_path)
    outside = tmp_path / "outside.json"
    listed = "../outside.json" if form == "dotdot" else str(outside)
    _list_outside(bundle_dir, listed, outside)
    with pytest.raises(BundleError, match="must stay inside the bundle"):
        load_bundle(bundle_dir)
    with pytest.raises(BundleError, match="must stay inside the bundle"):
        load_predictor(bundle_dir)


def test_bundle_symlink_to_a_file_outside_is_refused(tiny_bundle: Bundle, tmp_path: Path) -> None:
    bundle_dir = _copy(tiny_bundle, tmp_path)
    outside = tmp_path / "outside.json"
    shutil.move(bundle_dir / "vocabulary.json", outside)
    os.symlink(outside, bundle_dir / "vocabulary.json")
    with pytest.raises(BundleError, match=re.escape('"vocabulary.json" is a link to a file outside the bundle')):
        load_bundle(bundle_dir)


def test_bundle_symlinked_directory_is_refused(tiny_bundle: Bundle, tmp_path: Path) -> None:
    bundle_dir = _copy(tiny_bundle, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(bundle_dir / "vocabulary.json", elsewhere / "vocabulary.json")
    os.symlink(elsewhere, bundle_dir / "data")

    def edit(raw: dict[str, object]) -> None:
        files = dict(raw["files"])  # type: ignore[call-overload]
        files["data/vocabulary.json"] = files.pop("vocabulary.json")
        raw["files"] = files

    rewrite_manifest(bundle_dir, edit)
    with pytest.raises(BundleError, match='"data" is a link'):
        load_bundle(bundle_dir)


def test_bundle_unlisted_symlinked_directory_is_refused(tiny_bundle: Bundle, tmp_path: Path) -> None:
    bundle_dir = _copy(tiny_bundle, tmp_path)
    os.symlink(tmp_path, bundle_dir / "up")
    with pytest.raises(BundleError, match='"up" is a link'):
        load_bundle(bundle_dir)


def test_bundle_symlink_inside_the_bundle_still_loads(tiny_bundle: Bundle, tmp_path: Path) -> None:
    bundle_dir = _copy(tiny_bundle, tmp_path)
    (bundle_dir / "sub").mkdir()
    shutil.move(bundle_dir / "vocabulary.json", bundle_dir / "sub" / "vocabulary.json")
    os.symlink(Path("sub") / "vocabulary.json", bundle_dir / "vocabulary.json")

    def edit(raw: dict[str, object]) -> None:
        files = dict(raw["files"])  # type: ignore[call-overload]
        files["sub/vocabulary.json"] = files["vocabulary.json"]
        raw["files"] = files

    rewrite_manifest(bundle_dir, edit)
    assert load_predictor(bundle_dir).predict(["my card is lost"])[0][0] == "card"


def test_register_never_writes_outside_the_registry_home(tiny_bundle: Bundle, tmp_path: Path) -> None:
    # The same relative path reads tmp_path/victim/x.json from the bundle and, seen from the registry's staging
    # folder (home/staging/<random>/), points at tmp_path/h1/h2/victim/x.json, outside home = tmp_path/h1/h2/reg.
    bundle_dir = tmp_path / "src" / "sub" / "bundle"
    shutil.copytree(tiny_bundle.path, bundle_dir)
    (tmp_path / "victim").mkdir()
    _list_outside(bundle_dir, "../../../victim/x.json", tmp_path / "victim" / "x.json")
    home = tmp_path / "h1" / "h2" / "reg"
    with pytest.raises(NlpopsError, match="must stay inside the bundle"):
        SqliteRegistry(home).register(bundle_dir)
    assert not (tmp_path / "h1" / "h2" / "victim").exists()
    assert not (home / "artifacts").exists()


def test_manifest_file_itself_cannot_be_listed(tiny_bundle: Bundle, tmp_path: Path) -> None:
    bundle_dir = _copy(tiny_bundle, tmp_path)

    def edit(raw: dict[str, object]) -> None:
        raw["files"] = {**raw["files"], MANIFEST_NAME: "0" * 64}  # type: ignore[dict-item]

    rewrite_manifest(bundle_dir, edit)
    with pytest.raises(BundleError, match="lists its own"):
        load_bundle(bundle_dir)
    assert json.loads((bundle_dir / MANIFEST_NAME).read_text())["files"][MANIFEST_NAME] == "0" * 64
