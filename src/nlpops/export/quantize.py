"""Dynamic int8 quantization of an ONNX graph with onnxruntime (weights int8, activations quantized at run time)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from nlpops.errors import ExportError, MissingExtraError


def quantize_int8(path: Path) -> None:
    """Replace the graph at ``path`` with its dynamically int8-quantized version (MatMul/Gemm weights).

    Raises:
        MissingExtraError: onnxruntime's quantization tools (which need ``onnx``) are not installed.
        ExportError: the graph cannot be quantized.
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise MissingExtraError.for_extra("int8 quantization", "export", "onnx") from exc
    with tempfile.TemporaryDirectory(prefix=".nlpops-quantize-") as tmp:
        target = Path(tmp) / "model.int8.onnx"
        try:
            quantize_dynamic(str(path), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
        except Exception as exc:  # onnx / onnxruntime raise many types here
            raise ExportError(f'int8 quantization of "{path.name}" failed: {exc}. Export without --quantize.') from exc
        path.write_bytes(target.read_bytes())
    for leftover in path.parent.glob("*-inferred.onnx"):
        leftover.unlink()


__all__ = ["quantize_int8"]
