"""Local, verified copies of bundles stored on an MLflow server, so serving and batch get a bundle directory.

Copies live under ``<registry.home>/mlflow-cache/<server>/<name>/<version>/``, one folder per tracking
server (a readable host part plus a hash of the URI, so two servers never share copies). A download lands in
``<server>/staging/`` first, is verified there (every file's sha256, and the manifest's own sha256 against the
one recorded when the version was registered), and only then renamed into place: a reader never sees a half
downloaded or unverified copy, and two processes downloading the same version at once both end up with one
good copy. Versions are immutable, so a copy that matches the recorded manifest hash is reused as is (the
full checksum verification runs again whenever the bundle is loaded).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from nlpops.bundle import MANIFEST_NAME, BundleManifest, load_bundle, read_manifest, sha256_file
from nlpops.errors import BundleError, RegistryError
from nlpops.registry._artifacts import discard, staging_folder

CACHE_DIR = "mlflow-cache"


def _server_key(uri: str) -> str:
    try:
        host = urlsplit(uri).netloc.rpartition("@")[2] or uri
    except ValueError:
        host = uri
    readable = re.sub(r"[^A-Za-z0-9.-]+", "_", host).strip("_.")[:40] or "mlflow"
    return f"{readable}-{hashlib.sha256(uri.encode('utf-8')).hexdigest()[:12]}"


class BundleCache:
    """Verified local copies of the bundles of one MLflow server.

    Args:
        home: the registry home (``registry.home``); copies go under ``home/mlflow-cache/``.
        uri: the tracking URI the bundles come from.
    """

    def __init__(self, home: Path, uri: str) -> None:
        self.root = home.resolve() / CACHE_DIR / _server_key(uri)

    def path(self, name: str, version: int) -> Path:
        """Where the copy of ``name`` version ``version`` is (or will be) kept."""
        return self.root / name / str(version)

    def cached(self, name: str, version: int, manifest_sha256: str) -> Path | None:
        """The copy of a version if one is in place and its manifest is the registered one, else None."""
        target = self.path(name, version)
        try:
            return target if sha256_file(target / MANIFEST_NAME) == manifest_sha256 else None
        except OSError:
            return None

    @contextmanager
    def scratch(self) -> Iterator[Path]:
        """A fresh folder under ``staging/``, removed afterwards.

        Raises:
            RegistryError: the folder cannot be created.
        """
        folder = staging_folder(
            self.root,
            "download-",
            f'Cannot write to the MLflow bundle cache "{self.root}"',
            "Check the permissions and free space of registry.home (or NLPOPS_HOME).",
        )
        try:
            yield folder
        finally:
            discard(folder)

    def fetch(
        self, name: str, version: int, manifest_sha256: str, download: Callable[[Path], Path], source: str
    ) -> tuple[Path, BundleManifest]:
        """The verified local copy of a version, downloading it first when there is none.

        Args:
            name: the model name.
            version: the version number.
            manifest_sha256: the sha256 of the manifest recorded when the version was registered.
            download: downloads the bundle into the given empty folder and returns the bundle directory.
            source: where the bundle comes from, for messages.

        Returns:
            The bundle directory and its manifest.

        Raises:
            BundleError: the downloaded bundle fails verification (nothing is kept).
            RegistryError: the download or the local copy failed.
        """
        hit = self.cached(name, version, manifest_sha256)
        if hit is not None:
            return hit, read_manifest(hit)
        with self.scratch() as folder:
            downloaded = download(folder)
            try:
                bundle = load_bundle(downloaded)
            except BundleError as exc:
                raise BundleError(
                    f"Version {name}:{version} downloaded from {source} fails verification, so it is not used: "
                    f"{exc} The stored artifact is damaged or was changed. Register the bundle again and promote "
                    "the new version."
                ) from exc
            if sha256_file(downloaded / MANIFEST_NAME) != manifest_sha256:
                raise BundleError(
                    f"Version {name}:{version} downloaded from {source} has a different manifest from the one "
                    "registered (its sha256 differs), so it is not used: the stored artifact was replaced. Register "
                    "the bundle again and promote the new version."
                )
            return self.place(downloaded, name, version, manifest_sha256), bundle.manifest

    def place(self, folder: Path, name: str, version: int, manifest_sha256: str) -> Path:
        """Rename a verified bundle folder into the cache (keeping a good copy another process placed first).

        Raises:
            RegistryError: the rename failed and no good copy is in place.
        """
        target = self.path(name, version)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() and self.cached(name, version, manifest_sha256) is None:
                shutil.rmtree(target)  # a damaged or stale copy (e.g. of a server that was reset)
            folder.rename(target)
        except OSError as exc:
            if self.cached(name, version, manifest_sha256) is not None:
                return target  # another process put the same version in place first
            raise RegistryError(
                f'Cannot store the bundle of {name}:{version} in "{target}": {exc}. Check free space and '
                "permissions of registry.home (or NLPOPS_HOME), then retry."
            ) from exc
        return target


__all__ = ["CACHE_DIR", "BundleCache"]
