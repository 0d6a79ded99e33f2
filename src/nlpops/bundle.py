"""The bundle: a directory holding ``nlpops-bundle.json`` (the manifest) and the files its runtime needs.

The manifest records how the model was built (family, runtime, labels, preprocessing, config, data
fingerprint, metrics, reference statistics, package versions) and a sha256 for every file. Loading
verifies every checksum and refuses a bundle whose files were changed, removed or added.
Nothing here executes code from a bundle, and nothing reads outside it: every listed path is relative,
without ``..``, and resolves inside the bundle (no link to a file outside, no linked folder).

The manifest covers itself: ``manifest_sha256`` is the sha256 of the canonical JSON (sorted keys, no
spaces, UTF-8) of every other field, so no field (labels, reference statistics, metrics) changes unnoticed.
It is a checksum, not a signature. Bundles written before it existed have none: they load, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nlpops._version import __version__
from nlpops.errors import BundleError, BundleExistsError
from nlpops.preprocess import check_steps
from nlpops.tasks import TaskName

logger = logging.getLogger("nlpops.bundle")

MANIFEST_NAME = "nlpops-bundle.json"
DIGEST_FIELD = "manifest_sha256"
SCHEMA_VERSION = 1
_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MAX_PATH_CHARS = 1024


class DataFingerprint(BaseModel):
    """What the model was trained on: a content hash, row count and label counts."""

    model_config = ConfigDict(extra="allow", frozen=True)

    sha256: str
    rows: int
    label_counts: dict[str, int]
    languages: dict[str, int] = Field(default_factory=dict)


class BundleManifest(BaseModel):
    """The manifest ``nlpops-bundle.json``. Unknown keys are kept (forward compatible within a major).

    ``task`` says what the model does (:mod:`nlpops.tasks`; bundles written before tasks existed are
    ``classification``). A ``multilabel`` bundle holds a threshold for each of its labels in ``thresholds``
    (a label is predicted when its probability reaches it); other tasks have none.
    """

    model_config = ConfigDict(extra="allow", frozen=True, protected_namespaces=())

    schema_version: int = SCHEMA_VERSION
    name: str
    version: str
    created_at: str
    family: str
    runtime: str
    task: TaskName = "classification"
    labels: list[str]
    thresholds: dict[str, float] = Field(default_factory=dict)
    languages: list[str] = Field(default_factory=list)
    preprocessing: list[str] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    data: DataFingerprint | None = None
    reference: dict[str, Any] = Field(default_factory=dict)
    requirements: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    runtime_options: dict[str, Any] = Field(default_factory=dict)
    # Set by ``nlpops package`` (where the model came from, the parity measured); None for trained bundles.
    package: dict[str, Any] | None = None
    nlpops_version: str = __version__
    files: dict[str, str] = Field(default_factory=dict)
    manifest_sha256: str | None = None

    @model_validator(mode="after")
    def _check_thresholds(self) -> BundleManifest:
        if self.task != "multilabel":
            if self.thresholds:
                raise ValueError(f"thresholds are for multilabel bundles; this one is {self.task}")
            return self
        missing = [label for label in self.labels if label not in self.thresholds]
        extra = sorted(set(self.thresholds) - set(self.labels))
        if missing or extra:
            raise ValueError(f"a multilabel bundle needs one threshold per label (missing {missing}, unknown {extra})")
        bad = {label: value for label, value in self.thresholds.items() if not 0.0 <= value <= 1.0}
        if bad:
            raise ValueError(f"thresholds must be between 0 and 1, got {bad}")
        return self


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk."""

    path: Path
    manifest: BundleManifest

    def file(self, name: str) -> Path:
        """Path of one of the bundle's files; BundleError if the manifest does not list it or it leads outside."""
        if name not in self.manifest.files:
            raise BundleError(f'Bundle "{self.path}" has no file "{name}" in its manifest.')
        return confined_file(self.path, name)

    @property
    def size_bytes(self) -> int:
        """Bytes on disk: the manifest and every file it lists."""
        return (
            sum((self.path / name).stat().st_size for name in self.manifest.files)
            + (self.path / MANIFEST_NAME).stat().st_size
        )


def new_version() -> str:
    """A sortable version string for a freshly built bundle (UTC timestamp with microseconds)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def manifest_digest(raw: Mapping[str, Any]) -> str:
    """The ``manifest_sha256`` of a manifest: sha256 of the canonical JSON of every field but itself."""
    rest = {key: value for key, value in raw.items() if key != DIGEST_FIELD}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_member_name(bundle: Path, name: object) -> str:
    """Return ``name`` if it may name a file of a bundle: a relative POSIX path that stays inside it.

    Refused: anything but a non-empty string, an absolute path (``/x``, ``C:``, ``\\server``), a ``..``, ``.`` or
    empty part, a backslash, a control character, more than 1024 characters, and the manifest itself.

    Raises:
        BundleError: naming the bundle and the path.
    """
    text = name if isinstance(name, str) else repr(name)
    ok = (
        isinstance(name, str)
        and 0 < len(name) <= _MAX_PATH_CHARS
        and name.isprintable()
        and "\\" not in name
        and ":" not in name.split("/", 1)[0]
        and all(part not in ("", ".", "..") for part in name.split("/"))
    )
    if not ok:
        raise BundleError(
            f'Bundle "{bundle}": the manifest lists the path {text[:200]!r}; every file must stay inside the bundle '
            "(a relative path without '..'). The bundle is damaged or crafted: rebuild it with nlpops."
        )
    if name == MANIFEST_NAME:
        raise BundleError(
            f'Bundle "{bundle}": the manifest lists its own manifest {MANIFEST_NAME}. Rebuild the bundle.'
        )
    return str(name)


def confined_file(bundle: Path, name: str) -> Path:
    """``bundle / name`` after checking that no folder on the way is a link and a linked file stays inside.

    Raises:
        BundleError: a folder on the way is a symbolic link, or the file is a link that resolves outside.
    """
    check_member_name(bundle, name)
    parts = name.split("/")
    current = bundle
    for part in parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise BundleError(
                f'Bundle "{bundle}": "{current.relative_to(bundle).as_posix()}" is a link; a bundle holds no linked '
                "folders. Copy the real files into the bundle (or rebuild it)."
            )
    path = bundle / name
    if path.is_symlink():
        root = bundle.resolve()
        target = path.resolve()
        if not target.is_relative_to(root):
            raise BundleError(
                f'Bundle "{bundle}": "{name}" is a link to a file outside the bundle. Copy the file into the bundle '
                "(or rebuild it)."
            )
    return path


def _list_files(directory: Path) -> list[str]:
    """Every file under ``directory`` but the manifest (links to files included; linked folders refused)."""
    names = []
    for root, dirs, files in os.walk(directory):
        for dname in dirs:
            if (Path(root) / dname).is_symlink():
                rel = (Path(root) / dname).relative_to(directory).as_posix()
                raise BundleError(
                    f'Bundle "{directory}": "{rel}" is a link; a bundle holds no linked folders. Remove it or '
                    "copy the real files into the bundle."
                )
        for fname in files:
            rel = (Path(root) / fname).relative_to(directory).as_posix()
            if rel != MANIFEST_NAME:
                names.append(rel)
    return sorted(names)


def check_out_free(out: Path | str, overwrite: bool = False) -> None:
    """Refuse to write a bundle over an existing, non-empty folder unless ``overwrite`` (before any work).

    Raises:
        BundleExistsError: ``out`` exists, is not empty, and ``overwrite`` is false.
    """
    folder = Path(out)
    if not overwrite and folder.is_dir() and any(folder.iterdir()):
        raise BundleExistsError(folder)


def save_bundle(
    out: Path | str,
    fields: dict[str, Any],
    write_files: Callable[[Path], object],
    *,
    overwrite: bool = False,
) -> Bundle:
    """Write a bundle atomically: files into a staging folder, checksums into the manifest, then rename.

    Args:
        out: the bundle directory to create.
        fields: manifest fields (``files``, ``created_at``, ``schema_version`` are filled in here).
        write_files: called with the staging folder; writes the runtime's files into it.
        overwrite: replace an existing bundle at ``out``.

    Raises:
        BundleError: ``out`` exists (and ``overwrite`` is false) or the manifest fields are invalid.
    """
    out = Path(out)
    check_out_free(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_files(staging)
        files = {name: sha256_file(staging / name) for name in _list_files(staging)}
        values = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), **fields}
        values["files"] = files
        values["schema_version"] = SCHEMA_VERSION
        try:
            manifest = BundleManifest.model_validate(values)
        except ValidationError as exc:
            raise BundleError(f"Invalid bundle manifest fields: {exc}") from exc
        raw = manifest.model_dump(mode="json")
        raw[DIGEST_FIELD] = manifest_digest(raw)
        manifest = manifest.model_copy(update={DIGEST_FIELD: raw[DIGEST_FIELD]})
        (staging / MANIFEST_NAME).write_text(json.dumps(raw, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Bundle(out, manifest)


def read_manifest(path: Path | str) -> BundleManifest:
    """Read and validate a bundle's manifest without checking file checksums."""
    path = Path(path)
    manifest_path = path / MANIFEST_NAME
    if not path.exists():
        raise BundleError(f'Bundle "{path}" does not exist. Check the path, or use NAME@ALIAS for a registered model.')
    if not manifest_path.is_file():
        raise BundleError(f'"{path}" is not an nlpops bundle: it has no {MANIFEST_NAME}.')
    try:
        raw = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(
            f'Bundle "{path}": {MANIFEST_NAME} is corrupt ({exc}). Rebuild or re-copy the bundle.'
        ) from exc
    if not isinstance(raw, dict):
        raise BundleError(f'Bundle "{path}": {MANIFEST_NAME} must hold a JSON object.')
    schema = raw.get("schema_version")
    if schema != SCHEMA_VERSION:
        raise BundleError(
            f'Bundle "{path}" has format v{schema}; this nlpops reads v{SCHEMA_VERSION}. '
            "Use the nlpops version that wrote it, or retrain."
        )
    _check_digest(path, raw)
    try:
        manifest = BundleManifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise BundleError(f'Bundle "{path}": invalid manifest ({problems}).') from exc
    for name, digest in manifest.files.items():
        check_member_name(path, name)
        if not isinstance(digest, str) or _SHA256.fullmatch(digest) is None:
            raise BundleError(
                f'Bundle "{path}": the checksum of "{name}" must be a sha256 (64 lowercase hex digits). '
                "Rebuild the bundle."
            )
    check_steps(manifest.preprocessing)
    return manifest


def _check_digest(path: Path, raw: dict[str, Any]) -> None:
    if DIGEST_FIELD not in raw:
        logger.warning(
            'Bundle "%s" has no %s (written by an earlier nlpops): its files are verified, its manifest fields '
            "are not. Retrain or re-export it to add one.",
            path,
            DIGEST_FIELD,
        )
        return
    found = raw[DIGEST_FIELD]
    if not isinstance(found, str) or _SHA256.fullmatch(found) is None:
        raise BundleError(
            f'Bundle "{path}": {DIGEST_FIELD} must be a sha256 (64 lowercase hex digits), got {str(found)[:80]!r}. '
            "Re-copy the bundle or retrain."
        )
    if manifest_digest(raw) != found:
        raise BundleError(
            f'Bundle "{path}" failed verification: {MANIFEST_NAME} was changed after the bundle was written '
            f"(its {DIGEST_FIELD} does not match its fields). Re-copy the bundle or retrain."
        )


def verify_bundle(path: Path | str, manifest: BundleManifest) -> None:
    """Check every file against the manifest's sha256; refuse missing, changed or unlisted files."""
    path = Path(path)
    for name, expected in manifest.files.items():
        file = confined_file(path, name)
        if not file.is_file():
            raise BundleError(f'Bundle "{path}" is incomplete: file "{name}" is missing. Re-copy the bundle.')
        if sha256_file(file) != expected:
            raise BundleError(
                f'Bundle "{path}" failed verification: file "{name}" does not match its checksum '
                "(changed or truncated). Re-copy the bundle or retrain."
            )
    extra = sorted(set(_list_files(path)) - set(manifest.files))
    if extra:
        raise BundleError(f'Bundle "{path}" failed verification: unexpected file "{extra[0]}" is not in the manifest.')


def load_bundle(path: Path | str, *, verify: bool = True) -> Bundle:
    """Read a bundle's manifest and (by default) verify every file's checksum.

    Raises:
        BundleError: not a bundle, unsupported format, or a file missing/changed/added.
    """
    path = Path(path)
    manifest = read_manifest(path)
    if verify:
        verify_bundle(path, manifest)
    return Bundle(path, manifest)


def pack_bundle(bundle_dir: Path | str, archive: Path | str) -> Path:
    """Write a bundle directory as one ``.tar.gz`` archive for transport."""
    bundle = load_bundle(bundle_dir)
    archive = Path(archive)
    with tarfile.open(archive, "w:gz") as tar:
        for name in [MANIFEST_NAME, *bundle.manifest.files]:
            tar.add(bundle.path / name, arcname=name)
    return archive


def unpack_bundle(archive: Path | str, out: Path | str) -> Bundle:
    """Extract an archive written by :func:`pack_bundle` (safely: no links, no paths outside) and verify it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=False)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(out, filter="data")
    except (tarfile.TarError, OSError) as exc:
        shutil.rmtree(out, ignore_errors=True)
        raise BundleError(f'"{archive}" is not a readable bundle archive: {exc}') from exc
    return load_bundle(out)


__all__ = [
    "DIGEST_FIELD",
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "Bundle",
    "BundleManifest",
    "DataFingerprint",
    "check_member_name",
    "check_out_free",
    "confined_file",
    "load_bundle",
    "manifest_digest",
    "new_version",
    "pack_bundle",
    "read_manifest",
    "save_bundle",
    "sha256_file",
    "unpack_bundle",
    "verify_bundle",
]
