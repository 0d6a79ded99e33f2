"""The registry's artifact folder: verified copies of registered bundles, moved into place atomically.

A bundle is first copied into ``home/staging/<random>/`` and verified there; the registry then renames
that folder to ``home/artifacts/<name>/<version>/`` while it holds the database write lock, so no reader
ever sees a half-copied bundle and two writers never claim the same folder.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from nlpops.bundle import MANIFEST_NAME, Bundle, load_bundle
from nlpops.errors import BundleError, RegistryError

ARTIFACTS_DIR = "artifacts"
STAGING_DIR = "staging"


def artifact_dir(home: Path, name: str, version: int) -> Path:
    """Where version ``version`` of model ``name`` is stored under ``home``."""
    return home / ARTIFACTS_DIR / name / str(version)


def staging_folder(home: Path, prefix: str, cannot: str, advice: str) -> Path:
    """A new, empty folder under ``home/staging/`` (same file system as its final place, so it can be renamed).

    Raises:
        RegistryError: "``cannot``: <reason>. ``advice``" when the folder cannot be created.
    """
    try:
        root = home / STAGING_DIR
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    except OSError as exc:
        raise RegistryError(f"{cannot}: {exc.strerror}. {advice}") from exc


def stage_bundle(bundle: Bundle, home: Path) -> tuple[Path, Bundle]:
    """Copy a verified bundle into a fresh staging folder under ``home`` and verify the copy.

    Args:
        bundle: a bundle already loaded (and verified) with :func:`nlpops.bundle.load_bundle`.
        home: the registry home.

    Returns:
        The staging folder and the bundle loaded from it.

    Raises:
        RegistryError: the copy failed (disk full, permissions) or does not match the original
            (the source changed while it was copied). Nothing is left behind.
    """
    staging = staging_folder(
        home, "bundle-", f'Cannot write to the registry folder "{home}"', "Check its permissions and free space."
    )
    try:
        for rel in [MANIFEST_NAME, *bundle.manifest.files]:
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bundle.path / rel, target)
        copy = load_bundle(staging)
        if copy.manifest.files != bundle.manifest.files:
            raise BundleError(f'Bundle "{bundle.path}" changed while it was being registered.')
    except BundleError as exc:
        discard(staging)
        raise RegistryError(f"{exc} Nothing was registered; retry once the bundle is no longer being written.") from exc
    except OSError as exc:
        discard(staging)
        raise RegistryError(
            f'Copying bundle "{bundle.path}" into the registry at "{home}" failed: {exc}. '
            "Check free space and permissions, then retry."
        ) from exc
    except BaseException:
        discard(staging)
        raise
    return staging, copy


def place(staging: Path, target: Path) -> None:
    """Rename a staging folder to its final place; call only while holding the database write lock.

    A folder already at ``target`` has no database row (the caller checked, under the lock): it is the
    leftover of a registration that crashed between the rename and the commit, and is removed first.

    Raises:
        RegistryError: the rename failed.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except OSError as exc:
        raise RegistryError(
            f'Moving the registered bundle into "{target}" failed: {exc}. Check permissions and free space, then retry.'
        ) from exc


def discard(path: Path) -> None:
    """Remove a staging or orphaned folder, ignoring errors (it is never visible to readers)."""
    shutil.rmtree(path, ignore_errors=True)


__all__ = ["ARTIFACTS_DIR", "STAGING_DIR", "artifact_dir", "discard", "place", "stage_bundle"]
