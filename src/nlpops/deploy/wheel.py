"""What an image builds from besides the bundle: a wheel of this nlpops and the constraints it installs with.

An image must run the nlpops that rendered it, which may be on no package index (a checkout, an editable
install, a version not yet published). :func:`write_wheel` packs the installed package itself into a wheel
(pure Python, ``py3-none-any``), with the installed distribution's metadata, so the Dockerfile installs it
from the build context (``pip install --no-index --find-links wheels/``). :func:`pinned_constraints` pins
the packages the image installs, and everything they depend on, to the versions installed here (the ones
this nlpops was run with), for ``pip install --constraint constraints.txt``. Nothing here needs the network
or a build backend.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from nlpops.errors import PlanError

WHEELS_DIR = "wheels"
CONSTRAINTS_FILE = "constraints.txt"
_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the nlpops package this module belongs to
_SKIPPED_PARTS = frozenset({"__pycache__"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same package gives the same wheel, byte for byte
# The image's interpreter (python:3.11-slim): dependency markers are evaluated for it, not for this machine.
IMAGE_MARKERS = {
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def nlpops_version() -> str:
    """The version of the installed nlpops distribution.

    Raises:
        PlanError: nlpops is not installed as a distribution (run from a bare source folder).
    """
    try:
        return metadata.version("nlpops")
    except metadata.PackageNotFoundError as exc:
        raise PlanError(
            "nlpops is not installed as a package, so no wheel can be made for the image. Run: pip install -e ."
        ) from exc


def wheel_name(version: str | None = None) -> str:
    """The file name of the nlpops wheel (``nlpops-0.1.0-py3-none-any.whl``)."""
    return f"nlpops-{(version or nlpops_version()).replace('-', '_')}-py3-none-any.whl"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"sha256={digest}"


def _package_files(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and not _SKIPPED_PARTS & set(path.parts) and not path.name.endswith(_SKIPPED_SUFFIXES)
    )


def _dist_info_files(dist: metadata.Distribution) -> dict[str, bytes]:
    """The installed distribution's own metadata files worth shipping (METADATA, entry points, licences)."""
    found: dict[str, bytes] = {}
    for name in ("METADATA", "entry_points.txt"):
        text = dist.read_text(name)
        if text is not None:
            found[name] = text.encode("utf-8")
    for file in dist.files or []:
        parts = Path(str(file)).parts
        if len(parts) > 2 and parts[0].endswith(".dist-info") and parts[1] == "licenses":
            found["/".join(parts[1:])] = Path(str(file.locate())).read_bytes()
    if "METADATA" not in found:
        raise PlanError("The installed nlpops has no METADATA file; reinstall it: pip install -e .")
    return found


def write_wheel(dest: Path | str) -> Path:
    """Pack the installed nlpops into a wheel in ``dest`` (created) and return its path.

    The package files come from where this nlpops is imported from (an editable install's source folder, or
    site-packages); ``__pycache__`` is left out. The wheel is reproducible: fixed timestamps, sorted entries.

    Raises:
        PlanError: nlpops is not installed as a distribution, or ``dest`` cannot be written.
    """
    version = nlpops_version()
    dist = metadata.distribution("nlpops")
    info = f"nlpops-{version.replace('-', '_')}.dist-info"
    entries: list[tuple[str, bytes]] = [
        (f"nlpops/{path.relative_to(_PACKAGE_DIR).as_posix()}", path.read_bytes())
        for path in _package_files(_PACKAGE_DIR)
    ]
    entries += [(f"{info}/{name}", data) for name, data in sorted(_dist_info_files(dist).items())]
    wheel_meta = f"Wheel-Version: 1.0\nGenerator: nlpops {version}\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    entries.append((f"{info}/WHEEL", wheel_meta.encode("ascii")))
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in entries)
    entries.append((f"{info}/RECORD", (record + f"{info}/RECORD,,\n").encode("utf-8")))
    folder = Path(dest)
    target = folder / wheel_name(version)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in entries:
                item = zipfile.ZipInfo(name, date_time=_EPOCH)
                item.external_attr = 0o644 << 16
                item.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(item, data)
    except OSError as exc:
        raise PlanError(f'Cannot write the nlpops wheel into "{folder}": {exc.strerror or exc}.') from exc
    return target


def check_wheel(path: Path | str) -> None:
    """Check a wheel: a readable zip whose RECORD lists every file with its right sha256 and size.

    Raises:
        PlanError: naming the first file that is missing, unlisted or changed.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            record_name = next((n for n in names if n.endswith(".dist-info/RECORD")), None)
            if record_name is None:
                raise PlanError(f'Wheel "{path}" has no RECORD.')
            listed: set[str] = set()
            for line in archive.read(record_name).decode("utf-8").splitlines():
                name, digest, size = line.rsplit(",", 2)
                listed.add(name)
                if name == record_name:
                    continue
                data = archive.read(name)
                if digest != _record_hash(data) or int(size) != len(data):
                    raise PlanError(f'Wheel "{path}": {name} does not match its RECORD entry.')
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise PlanError(f'Wheel "{path}" is not a readable wheel: {exc}.') from exc
    if names - listed:
        raise PlanError(f'Wheel "{path}" holds files its RECORD does not list: {sorted(names - listed)[:3]}.')


def _installed(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def _public(version: str) -> str:
    """``version`` without a local label (``2.13.0+cpu`` -> ``2.13.0``): indexes publish public versions only."""
    try:
        return Version(version).public
    except InvalidVersion:
        return version.split("+", 1)[0]


def _applies(requirement: Requirement, extras: Iterable[str]) -> bool:
    if requirement.marker is None:
        return True
    marker: Marker = requirement.marker
    return any(marker.evaluate({**IMAGE_MARKERS, "extra": extra}) for extra in ("", *extras))


def pinned_constraints(requirements: Sequence[str], *, without_deps: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """Pins for ``requirements`` and everything they pull in, at the versions installed here.

    Args:
        requirements: the requirement strings the image installs.
        without_deps: names installed with ``--no-deps``: pinned themselves, their dependencies are not followed.

    Returns:
        ``(pins, unpinned)``: ``name==version`` lines, sorted; and the names not installed here (pip resolves
        those from the index by their requirement alone).
    """
    skip = {canonicalize_name(name) for name in without_deps}
    pins: dict[str, str] = {}
    unpinned: set[str] = set()
    queue: list[Requirement] = []
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise PlanError(f"{text!r} is not a valid requirement ({exc}).") from exc
        if _applies(requirement, ()):
            queue.append(requirement)
    while queue:
        requirement = queue.pop()
        name = canonicalize_name(requirement.name)
        if name in pins or name in unpinned:
            continue
        dist = _installed(requirement.name)
        if dist is None:
            unpinned.add(name)
            continue
        pins[name] = _public(dist.version)
        if name in skip:
            continue
        for text in dist.requires or []:
            dependency = Requirement(text)
            if _applies(dependency, requirement.extras):
                queue.append(dependency)
    return [f"{name}=={version}" for name, version in sorted(pins.items())], sorted(unpinned)


__all__ = [
    "CONSTRAINTS_FILE",
    "IMAGE_MARKERS",
    "WHEELS_DIR",
    "check_wheel",
    "nlpops_version",
    "pinned_constraints",
    "wheel_name",
    "write_wheel",
]
