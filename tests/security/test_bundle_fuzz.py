"""Fuzzed bundle manifests (hypothesis): loading never opens a file outside the bundle and never fails with
anything but BundleError (and, once the manifest is accepted, building the predictor with another nlpops
error at worst)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from security_support import DIGEST_FIELD, canonical_digest

from nlpops.bundle import MANIFEST_NAME, Bundle, load_bundle
from nlpops.errors import BundleError, NlpopsError
from nlpops.runtimes import load_predictor

SECRET = b"the secret outside every bundle\n"
_WATCHED: list[tuple[str, list[str]]] = []  # (root that must not be read, violations): set while a case runs


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _WATCHED or event != "open" or not isinstance(args[0], str | bytes | os.PathLike):
        return
    path = os.path.realpath(os.fsdecode(args[0]))
    for root, violations in _WATCHED:
        if path.startswith(root):
            violations.append(path)


sys.addaudithook(_audit)  # inert unless a test below is watching


@contextlib.contextmanager
def _no_reads_under(root: Path) -> Iterator[list[str]]:
    violations: list[str] = []
    _WATCHED.append((os.path.realpath(root) + os.sep, violations))
    try:
        yield violations
    finally:
        _WATCHED.pop()


_ESCAPES = [
    "../outside/secret.txt",
    "../../outside/secret.txt",
    "sub/../../outside/secret.txt",
    "{outside}",
    "link.txt",
    "linkdir/secret.txt",
    "./vocabulary.json",
    "vocabulary.json/",
    "",
    ".",
    "..",
    "a//b",
    "..\\outside\\secret.txt",
    "C:/outside/secret.txt",
    "x\x00y",
    "\n",
    MANIFEST_NAME,
    "é/ü.bin",
    "a" * 1500,
]
_PATHS = st.one_of(st.sampled_from(_ESCAPES), st.text(max_size=30))
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_FIELDS = st.sampled_from(
    ["schema_version", "name", "version", "family", "runtime", "labels", "languages", "preprocessing", "files",
     "metrics", "data", "reference", "requirements", "config", "runtime_options", DIGEST_FIELD, "extra"]
)  # fmt: skip

_MUTATION = st.one_of(
    st.tuples(st.just("list"), _PATHS, st.sampled_from(["secret", "valid", "junk"])),
    st.tuples(st.just("move_out"), st.sampled_from(["pipeline.json", "vocabulary.json", "pipeline.npz"]), _PATHS),
    st.tuples(st.just("symlink"), st.sampled_from(["pipeline.json", "vocabulary.json", "pipeline.npz"]), st.none()),
    st.tuples(st.just("linkdir"), st.none(), st.none()),
    st.tuples(st.just("field"), _FIELDS, _JSON),
    st.tuples(st.just("drop"), _FIELDS, st.none()),
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _apply(bundle: Path, outside: Path, raw: dict[str, Any], mutation: tuple[str, Any, Any]) -> None:
    kind, a, b = mutation
    secret = outside / "secret.txt"
    files = raw.get("files") if isinstance(raw.get("files"), dict) else None
    if kind == "list" and files is not None:
        name = str(a).replace("{outside}", str(secret))
        files[name] = {"secret": _sha(SECRET), "valid": next(iter(files.values()), "0" * 64), "junk": "xyz"}[b]
    elif kind == "move_out" and files is not None and a in files and (bundle / a).is_file():
        name = str(b).replace("{outside}", str(secret))
        with contextlib.suppress(OSError, ValueError):
            target = (bundle / name).resolve()
            if target.is_relative_to(outside.parent) and not target.is_relative_to(bundle.resolve()):
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(bundle / a, target)  # the real file now sits outside, where the listed path leads
                files[name] = files.pop(a)
    elif kind == "symlink" and files is not None and a in files and (bundle / a).is_file():
        (bundle / a).unlink()
        os.symlink(secret, bundle / a)
        files[a] = _sha(SECRET)
    elif kind == "linkdir" and not (bundle / "linkdir").exists():
        os.symlink(outside, bundle / "linkdir")
        if files is not None:
            files["linkdir/secret.txt"] = _sha(SECRET)
    elif kind == "field":
        raw[a] = b
    elif kind == "drop":
        raw.pop(a, None)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(_MUTATION, min_size=1, max_size=4), resign=st.booleans())
def test_fuzzed_manifest_never_reads_outside_and_fails_only_with_bundle_errors(
    tiny_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory, mutations: list[Any], resign: bool
) -> None:
    case = tmp_path_factory.mktemp("fuzz")
    outside = case / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    bundle = case / "bundles" / "bundle"
    shutil.copytree(tiny_bundle.path, bundle)
    raw = json.loads((bundle / MANIFEST_NAME).read_text(encoding="utf-8"))
    for mutation in mutations:
        _apply(bundle, outside, raw, mutation)
    if resign or DIGEST_FIELD not in raw:  # re-signed: the digest is no defence, every other check must hold
        with contextlib.suppress(TypeError, ValueError):
            raw[DIGEST_FIELD] = canonical_digest(raw)
    try:
        text = json.dumps(raw, allow_nan=True)
    except (TypeError, ValueError):
        return
    (bundle / MANIFEST_NAME).write_text(text, encoding="utf-8")
    with _no_reads_under(outside) as violations:
        try:
            loaded = load_bundle(bundle)
        except BundleError as exc:
            assert str(exc)
            loaded = None
        if loaded is not None:
            with contextlib.suppress(NlpopsError):
                load_predictor(loaded)
    assert violations == []
