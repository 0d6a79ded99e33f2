"""The registry's artifact folder: verified copies of registered bundles, moved into place atomically.

A bundle is first copied into ``home/staging/<random>/`` and verified there; the registry then renames
that folder to ``home/artifacts/<name>/<version>/`` while it holds the database write lock, so no reader
ever sees a half-copied bundle and two writers never claim the same folder. A folder already there is
never replaced: version numbers skip past every folder on disk (a registration that crashed before its
commit, or versions registered after the backup a database was restored from).
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

    Raises:
        RegistryError: a folder is already at ``target`` (it is never replaced), or the rename failed.
    """
    if target.exists():
        raise RegistryError(
            f'"{target}" already exists; nlpops never replaces a stored version. Retry the registration '
            "(it takes the next free number)."
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(target)
    except OSError as exc:
        raise RegistryError(
            f'Moving the registered bundle into "{target}" failed: {exc}. Check permissions and free space, then retry.'
        ) from exc


def highest_stored(home: Path, name: str) -> int:
    """The highest version number with a folder under ``home/artifacts/<name>/`` (0 when there is none)."""
    try:
        numbers = [int(p.name) for p in (home / ARTIFACTS_DIR / name).iterdir() if p.name.isdecimal() and p.is_dir()]
    except (FileNotFoundError, NotADirectoryError):
        return 0
    return max(numbers, default=0)


def stored_versions(home: Path) -> str | None:
    """``"N stored versions under <home>/artifacts"`` when any version folder exists there, else None."""
    root = home / ARTIFACTS_DIR
    try:
        count = sum(1 for model in root.iterdir() if model.is_dir() for version in model.iterdir() if version.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return None
    return f'{count} stored version{"s" if count != 1 else ""} under "{root}"' if count else None


def discard(path: Path) -> None:
    """Remove a staging or orphaned folder, ignoring errors (it is never visible to readers)."""
    shutil.rmtree(path, ignore_errors=True)


__all__ = [
    "ARTIFACTS_DIR",
    "STAGING_DIR",
    "artifact_dir",
    "discard",
    "highest_stored",
    "place",
    "stage_bundle",
    "stored_versions",
]
