"""Atomic file commits: write to a temporary sibling, fsync, rename; a reader sees the old file or the new one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Flush a directory entry (a rename) to disk; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success fsync it and rename it over ``path``.

    Args:
        path: the file to create or replace.

    Returns:
        A context manager yielding the temporary path (same directory, so the rename is atomic).

    Raises:
        OSError: the write, fsync or rename failed (the temporary file is removed).
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_directory(path.parent)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (tmp, fsync, rename).

    Args:
        path: the file to create or replace.
        data: its new content.

    Raises:
        OSError: the file could not be written.
    """
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


__all__ = ["atomic_path", "fsync_directory", "write_atomic"]
