from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpops.bundle import MANIFEST_NAME, Bundle, load_bundle, pack_bundle, save_bundle, unpack_bundle
from nlpops.errors import BundleError
from nlpops.runtimes import load_predictor


def copy_of(bundle: Bundle, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(bundle.path, target)
    return target


def test_bundle_manifest_records_what_built_it(tiny_bundle: Bundle) -> None:
    manifest = tiny_bundle.manifest
    assert manifest.family == "tfidf" and manifest.runtime == "sklearn"
    assert manifest.labels == ["card", "money"]
    assert manifest.preprocessing == ["nfc.v1", "collapse_whitespace.v1"]
    assert manifest.data is not None and manifest.data.rows == 12
    assert {"accuracy", "macro_f1", "per_class"} <= set(manifest.metrics)
    assert any(r.startswith("scikit-learn==") for r in manifest.requirements)
    assert manifest.config["model"]["family"] == "tfidf"
    assert set(manifest.files) == {"pipeline.json", "pipeline.npz", "vocabulary.json"}
    assert all(len(digest) == 64 for digest in manifest.files.values())


@pytest.mark.parametrize("name", ["pipeline.json", "pipeline.npz", "vocabulary.json"])
def test_bundle_one_changed_byte_is_refused_naming_the_file(tiny_bundle: Bundle, tmp_path: Path, name: str) -> None:
    path = copy_of(tiny_bundle, tmp_path)
    data = bytearray((path / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (path / name).write_bytes(bytes(data))
    with pytest.raises(BundleError, match=re.escape(f'file "{name}" does not match its checksum')):
        load_bundle(path)
    with pytest.raises(BundleError, match=name):
        load_predictor(path)


def test_bundle_truncated_or_removed_file_is_refused(tiny_bundle: Bundle, tmp_path: Path) -> None:
    path = copy_of(tiny_bundle, tmp_path)
    (path / "vocabulary.json").write_bytes((path / "vocabulary.json").read_bytes()[:10])
    with pytest.raises(BundleError, match=re.escape('"vocabulary.json" does not match')):
        load_bundle(path)
    (path / "pipeline.npz").unlink()
    with pytest.raises(BundleError, match=re.escape('file "pipeline.npz" is missing')):
        load_bundle(path)


def test_bundle_unlisted_file_is_refused(tiny_bundle: Bundle, tmp_path: Path) -> None:
    path = copy_of(tiny_bundle, tmp_path)
    (path / "evil.py").write_text("print('hi')\n")
    with pytest.raises(BundleError, match=re.escape('unexpected file "evil.py"')):
        load_bundle(path)


def test_bundle_other_format_version_is_refused(tiny_bundle: Bundle, tmp_path: Path) -> None:
    path = copy_of(tiny_bundle, tmp_path)
    raw = json.loads((path / MANIFEST_NAME).read_text())
    raw["schema_version"] = 99
    (path / MANIFEST_NAME).write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="format v99"):
        load_bundle(path)


def test_bundle_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nothing")
    with pytest.raises(BundleError, match=r"has no nlpops-bundle\.json"):
        load_bundle(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(BundleError, match="corrupt"):
        load_bundle(tmp_path)


def test_bundle_refuses_to_overwrite(tiny_bundle: Bundle) -> None:
    with pytest.raises(BundleError, match="already exists"):
        save_bundle(tiny_bundle.path, {}, lambda _d: None)


def test_bundle_archive_roundtrip(tiny_bundle: Bundle, tmp_path: Path) -> None:
    archive = pack_bundle(tiny_bundle.path, tmp_path / "b.tar.gz")
    restored = unpack_bundle(archive, tmp_path / "restored")
    assert restored.manifest == tiny_bundle.manifest
    texts = ["my card is lost", "refund please"]
    assert (load_predictor(restored).predict_proba(texts) == load_predictor(tiny_bundle).predict_proba(texts)).all()


_label = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None)
@given(labels=st.lists(_label, min_size=2, max_size=5, unique=True), payload=st.binary(max_size=64))
def test_bundle_manifest_roundtrip_property(
    tmp_path_factory: pytest.TempPathFactory, labels: list[str], payload: bytes
) -> None:
    out = tmp_path_factory.mktemp("b") / "bundle"
    fields = {"name": "m", "version": "1", "family": "tfidf", "runtime": "sklearn", "labels": labels}
    written = save_bundle(out, fields, lambda d: (d / "blob.bin").write_bytes(payload))
    loaded = load_bundle(out)
    assert loaded.manifest == written.manifest and loaded.manifest.labels == labels
