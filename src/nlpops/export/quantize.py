"""Dynamic int8 quantization of an ONNX graph with onnxruntime (weights int8, activations quantized at run time)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from nlpops.errors import ExportError, MissingExtraError


def quantize_int8(path: Path, keep_float: tuple[str, ...] = ()) -> None:
    """Replace the graph at ``path`` with its dynamically int8-quantized version.

    Weights of MatMul nodes with a constant operand are quantized per output channel; activations are
    quantized at run time. Nodes whose name contains one of ``keep_float`` stay in float32 (for BERT-like
    encoders, see ``nlpops.export.ENCODER_KEEP_FLOAT``).

    Args:
        path: the ONNX file, rewritten in place.
        keep_float: substrings of node names not to quantize.

    Raises:
        MissingExtraError: onnxruntime's quantization tools (which need ``onnx``) are not installed.
        ExportError: the graph cannot be quantized.
    """
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise MissingExtraError.for_extra("int8 quantization", "export", "onnx") from exc
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's quantizer warns on the root logger
    with tempfile.TemporaryDirectory(prefix=".nlpops-quantize-") as tmp:
        target = Path(tmp) / "model.int8.onnx"
        try:
            import onnx

            names = [n.name for n in onnx.load(str(path)).graph.node]
            quantize_dynamic(
                str(path),
                str(target),
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul", "Gemm"],
                nodes_to_exclude=[n for n in names if any(k in n for k in keep_float)],
                extra_options={"MatMulConstBOnly": True},
            )
        except Exception as exc:  # onnx / onnxruntime raise many types here
            raise ExportError(f'int8 quantization of "{path.name}" failed: {exc}. Export without --quantize.') from exc
        finally:
            logging.getLogger().setLevel(quiet)
        path.write_bytes(target.read_bytes())
    for leftover in path.parent.glob("*-inferred.onnx"):
        leftover.unlink()


__all__ = ["quantize_int8"]
