"""The runtimes a bundle can actually be served with, produced for measuring: the bundle itself, its ONNX
export and its int8 export (written into a temporary folder with the same parity check as ``nlpops export``),
and the GPU when this machine has one. What cannot be produced for this bundle is excluded with the reason
(the export error itself), so the advisor never recommends a runtime nlpops cannot build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpops.bundle import Bundle
from nlpops.errors import NlpopsError

RUNTIME_OPTIONS = ("native-cpu", "onnx-cpu", "onnx-int8-cpu", "gpu")
OWN = "own"  # in a list of wanted runtimes: whichever option the bundle's own runtime is
MEASURED, EXCLUDED, UNMEASURED = "measured", "excluded", "unmeasured"
_GPU_RUNTIMES = ("torch",)


@dataclass(frozen=True)
class Candidate:
    """One runtime option of a bundle: the bundle to measure, or why it is not measured."""

    option: str
    bundle: Bundle | None
    status: str
    reason: str | None = None
    device: str = "cpu"
    export: dict[str, Any] = field(default_factory=dict)


def _exported(source: Bundle, out: Path, option: str, quantize: str) -> Candidate:
    from nlpops.export import export_bundle

    try:
        result = export_bundle(source, out, quantize="int8" if quantize == "int8" else "none")
    except NlpopsError as exc:  # no converter for this model, parity failed, or the export extra is missing
        return Candidate(option, None, EXCLUDED, f"nlpops cannot produce it for this bundle: {exc}")
    return Candidate(option, result.bundle, MEASURED, export={"parity": result.parity.as_dict(), "quantize": quantize})


def own_option(bundle: Bundle) -> str:
    """The runtime option of the bundle's own runtime."""
    if bundle.manifest.runtime == "onnx":
        return "onnx-int8-cpu" if bundle.manifest.runtime_options.get("quantized") else "onnx-cpu"
    return "native-cpu"


def runtime_candidates(bundle: Bundle, workdir: Path, *, gpu_present: bool, wanted: tuple[str, ...]) -> list[Candidate]:
    """The candidates of ``bundle`` for the runtime options in ``wanted`` (exports are written under ``workdir``).

    Args:
        bundle: the bundle profiled.
        workdir: a temporary folder for the exports (the caller removes it).
        gpu_present: whether this machine has a GPU to measure on.
        wanted: runtime options to produce (a subset of :data:`RUNTIME_OPTIONS`).

    Returns:
        One candidate per wanted option, in the order of :data:`RUNTIME_OPTIONS`.
    """
    manifest = bundle.manifest
    runtime = manifest.runtime
    quantized = bool(manifest.runtime_options.get("quantized"))
    if OWN in wanted:
        wanted = (*wanted, own_option(bundle))
    out: list[Candidate] = []
    for option in (o for o in RUNTIME_OPTIONS if o in wanted):
        if option == "native-cpu":
            if runtime == "onnx":
                reason = "the bundle is ONNX: the model it was exported from is not part of it (profile that bundle)"
                out.append(Candidate(option, None, EXCLUDED, reason))
            else:
                out.append(Candidate(option, bundle, MEASURED))
        elif runtime == "router" and option != "gpu":
            reason = "nlpops cannot export a model set (runtime router) to ONNX; export each language's model instead"
            out.append(Candidate(option, None, EXCLUDED, reason))
        elif option == "onnx-cpu":
            if runtime == "onnx":
                reason = "the bundle is quantized: its float model is not part of it"
                out.append(
                    Candidate(option, None, EXCLUDED, reason) if quantized else Candidate(option, bundle, MEASURED)
                )
            else:
                out.append(_exported(bundle, workdir / "onnx", option, "none"))
        elif option == "onnx-int8-cpu":
            if runtime == "onnx" and quantized:
                out.append(Candidate(option, bundle, MEASURED))
            else:
                out.append(_exported(bundle, workdir / "onnx-int8", option, "int8"))
        elif runtime not in _GPU_RUNTIMES:
            reason = f"the {runtime} runtime has no GPU path in nlpops (it runs on CPU)"
            out.append(Candidate(option, None, EXCLUDED, reason))
        elif not gpu_present:
            reason = "no GPU on this machine: GPU figures are unmeasured (profile on the GPU host to size GPU replicas)"
            out.append(Candidate(option, None, UNMEASURED, reason))
        else:
            out.append(Candidate(option, bundle, MEASURED, device="cuda"))
    return out


__all__ = [
    "EXCLUDED",
    "MEASURED",
    "OWN",
    "RUNTIME_OPTIONS",
    "UNMEASURED",
    "Candidate",
    "own_option",
    "runtime_candidates",
]
