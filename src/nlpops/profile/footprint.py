"""Runtime footprint: the installed size of the packages a runtime needs, read from package metadata.

The sizes are the files each distribution installed (``importlib.metadata``), summed over the requirement
and everything it depends on (extras excluded), so they are measured on this environment, not estimated.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from nlpops.errors import BundleError

# What the nlpops service itself installs beside any runtime (deploy.context.SERVICE_REQUIREMENTS, by name;
# a test keeps the two lists equal).
SERVICE_PACKAGES: tuple[str, ...] = (
    "numpy",
    "py3langid",
    "pydantic",
    "pydantic-settings",
    "pyyaml",
    "typer",
    "rich",
    "uvicorn",
    "httptools",
    "uvloop",
    "prometheus-client",
    "orjson",
    "httpx",
    "filelock",
    "psutil",
    "packaging",
    "questionary",
)


def _distribution(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def distribution_size_bytes(dist: metadata.Distribution) -> int:
    """Sum of the sizes of the files a distribution installed (files that no longer exist count 0)."""
    total = 0
    for file in dist.files or []:
        try:
            total += os.stat(file.locate()).st_size
        except (OSError, AttributeError):
            continue
    return total


def _requirement_name(text: str) -> str:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement as exc:
        raise BundleError(f'The bundle lists an invalid requirement "{text}": {exc}. Rebuild the bundle.') from exc


def dependency_closure(requirements: Iterable[str]) -> dict[str, metadata.Distribution | None]:
    """Every distribution the requirements need, transitively (extras are not followed).

    Args:
        requirements: requirement strings (``"scikit-learn==1.6.1"``) or bare names.

    Returns:
        Canonical name -> installed distribution, or None when it is not installed here.
    """
    todo = [_requirement_name(r) for r in requirements]
    seen: dict[str, metadata.Distribution | None] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        dist = _distribution(name)
        seen[name] = dist
        if dist is None:
            continue
        for text in dist.requires or []:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            todo.append(canonicalize_name(req.name))
    return seen


def measure_footprint(requirements: Iterable[str]) -> dict[str, object]:
    """The installed size of ``requirements`` and their dependencies.

    Returns:
        ``{"bytes": total, "packages": {name: bytes}, "missing": [names not installed here]}``.
    """
    closure = dependency_closure(requirements)
    packages = {name: distribution_size_bytes(dist) for name, dist in sorted(closure.items()) if dist is not None}
    missing = sorted(name for name, dist in closure.items() if dist is None)
    return {"bytes": sum(packages.values()), "packages": packages, "missing": missing}


def image_bytes(*footprints: dict[str, object]) -> int:
    """The installed size of the union of several footprints' packages (shared dependencies counted once)."""
    union: dict[str, int] = {}
    for footprint in footprints:
        packages = footprint.get("packages")
        if isinstance(packages, dict):
            union.update({str(name): int(size) for name, size in packages.items()})
    return sum(union.values())


__all__ = ["SERVICE_PACKAGES", "dependency_closure", "distribution_size_bytes", "image_bytes", "measure_footprint"]
