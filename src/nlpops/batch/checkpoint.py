"""The checkpoint of a batch run: which chunks are committed, and what the run was started with.

The checkpoint is a small JSON file replaced atomically after each committed chunk. Its ``signature``
(input size, mtime and a hash of its first MiBs; the arguments that shape the output; the model's
manifest hash) must match for a run to resume; otherwise the run refuses and says what changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpops.batch.atomic import write_atomic
from nlpops.errors import DataError

CHECKPOINT_VERSION = 1
HEAD_HASH_BYTES = 4 << 20


def input_signature(path: Path) -> dict[str, Any]:
    """Size, modification time and sha256 of the first 4 MiB of ``path``.

    Raises:
        OSError: the file cannot be read.
    """
    stat = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        digest.update(fh.read(HEAD_HASH_BYTES))
    return {
        "path": str(path.resolve()),
        "size_bytes": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "head_sha256": digest.hexdigest(),
    }


def file_sha256(path: Path) -> str:
    """sha256 of a (small) file, e.g. a bundle manifest."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class ChunkStats:
    """Counts of one committed chunk."""

    read: int
    written: int
    rejected: int
    span: int

    def to_json(self) -> list[int]:
        return [self.read, self.written, self.rejected, self.span]


@dataclass
class Checkpoint:
    """Committed chunks of one run (keyed by chunk index) and the signature that run was started with."""

    signature: dict[str, Any]
    chunks: dict[int, ChunkStats] = field(default_factory=dict)
    complete: bool = False
    elapsed_s: float = 0.0

    def totals(self) -> tuple[int, int, int]:
        """``(read, written, rejected)`` over the committed chunks."""
        read = sum(c.read for c in self.chunks.values())
        written = sum(c.written for c in self.chunks.values())
        rejected = sum(c.rejected for c in self.chunks.values())
        return read, written, rejected

    def save(self, path: Path) -> None:
        """Replace the checkpoint file atomically.

        Raises:
            OSError: it could not be written.
        """
        data = {
            "version": CHECKPOINT_VERSION,
            "signature": self.signature,
            "complete": self.complete,
            "elapsed_s": round(self.elapsed_s, 3),
            "chunks": {str(k): v.to_json() for k, v in sorted(self.chunks.items())},
        }
        write_atomic(path, json.dumps(data, indent=1).encode("utf-8"))


def load_checkpoint(path: Path) -> Checkpoint | None:
    """The checkpoint at ``path``, or None when there is none.

    Raises:
        DataError: the file exists but is not a checkpoint this nlpops can read.
    """
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"version {data.get('version')!r}, expected {CHECKPOINT_VERSION}")
        chunks = {int(k): ChunkStats(*map(int, v)) for k, v in data["chunks"].items()}
        return Checkpoint(data["signature"], chunks, bool(data["complete"]), float(data.get("elapsed_s", 0.0)))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f'Checkpoint "{path}" is unreadable ({exc}). Run again with --restart to start over.') from exc


def signature_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Human-readable differences between two signatures (``input.size_bytes: 10 -> 12``)."""
    changes: list[str] = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            changes.extend(signature_changes(before, after, f"{prefix}{key}."))
        elif before != after:
            changes.append(f"{prefix}{key}: {before!r} -> {after!r}")
    return changes


__all__ = [
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "ChunkStats",
    "file_sha256",
    "input_signature",
    "load_checkpoint",
    "signature_changes",
]
