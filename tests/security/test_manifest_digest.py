"""The manifest is covered by a digest: no field can change unnoticed; bundles written before digests still load."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from security_support import DIGEST_FIELD, canonical_digest, rewrite_manifest

from nlpops.bundle import MANIFEST_NAME, Bundle, load_bundle
from nlpops.errors import BundleError
from nlpops.runtimes import load_predictor

FIXTURE_V1 = Path(__file__).parents[1] / "fixtures" / "bundle-v1-tfidf"


def _copy(bundle: Bundle, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(bundle.path, target)
    return target


def test_new_bundle_manifest_carries_the_documented_digest(tiny_bundle: Bundle) -> None:
    raw = json.loads((tiny_bundle.path / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert raw[DIGEST_FIELD] == canonical_digest(raw)
    assert tiny_bundle.manifest.manifest_sha256 == raw[DIGEST_FIELD]


@pytest.mark.parametrize(
    "field",
    ["labels", "reference", "metrics", "preprocessing", "runtime_options", "name", "an_unknown_extra_key"],
)
def test_changing_any_manifest_field_is_refused(tiny_bundle: Bundle, tmp_path: Path, field: str) -> None:
    bundle_dir = _copy(tiny_bundle, tmp_path)

    def edit(raw: dict[str, object]) -> None:
        if field == "labels":
            raw["labels"] = ["money", "card"]
        elif field == "reference":
            raw["reference"] = {**raw["reference"], "texts": ["planted by someone"]}  # type: ignore[dict-item]
        elif field == "metrics":
            raw["metrics"] = {**raw["metrics"], "macro_f1": 0.123}  # type: ignore[dict-item]
        elif field == "preprocessing":
            raw["preprocessing"] = []
        elif field == "runtime_options":
            raw["runtime_options"] = {"anything": True}
        elif field == "name":
            raw["name"] = "other"
        else:
            raw[field] = 1

    rewrite_manifest(bundle_dir, edit, update_digest=False)
    with pytest.raises(BundleError, match=r"nlpops-bundle\.json was changed after the bundle was written"):
        load_bundle(bundle_dir)
    with pytest.raises(BundleError, match="was changed after the bundle was written"):
        load_predictor(bundle_dir)


def test_a_malformed_digest_is_refused(tiny_bundle: Bundle, tmp_path: Path) -> None:
    bundle_dir = _copy(tiny_bundle, tmp_path)
    rewrite_manifest(bundle_dir, lambda raw: raw.update({DIGEST_FIELD: 12}), update_digest=False)
    with pytest.raises(BundleError, match="manifest_sha256 must be"):
        load_bundle(bundle_dir)


def test_bundle_written_before_digests_loads_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    assert DIGEST_FIELD not in json.loads((FIXTURE_V1 / MANIFEST_NAME).read_text(encoding="utf-8"))
    with caplog.at_level(logging.WARNING, logger="nlpops.bundle"):
        bundle = load_bundle(FIXTURE_V1)
    assert bundle.manifest.manifest_sha256 is None
    (record,) = [r for r in caplog.records if r.name == "nlpops.bundle"]
    assert record.levelno == logging.WARNING
    assert "has no manifest_sha256" in record.getMessage() and str(FIXTURE_V1) in record.getMessage()
