"""Transformer bundles to ONNX: the encoder becomes one graph (token ids -> last hidden state); pooling and
the linear head stay in numpy (``head.npz``), exactly as the torch runtime applies them.

Uses the TorchScript exporter (``dynamo=False``, opset 17) with dynamic batch and sequence axes; it
matched PyTorch within about 1e-7 for MiniLM.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.bundle import Bundle
from nlpops.errors import ExportError
from nlpops.runtimes.onnx import MODEL_FILE, pad_batch
from nlpops.runtimes.torch import ENCODER_DIR, HEAD_FILE, INPUTS, TOKENIZER_FILE, TorchEncoder

OPSET = 17


def export_encoder(encoder: TorchEncoder, out: Path) -> None:
    """Write ``encoder`` as an ONNX graph with dynamic (batch, sequence) axes.

    Raises:
        ExportError: torch cannot trace or export the model.
    """
    torch = encoder._torch
    sample = encoder.tokenizer.encode_batch(["a short example", "a somewhat longer example sentence for tracing"])
    ids, mask, types = pad_batch(sample, encoder.pad_id)
    args = tuple(torch.from_numpy(a) for a in (ids, mask, types))
    axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUTS, "last_hidden_state")}

    class _Wrapper(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Wrapper(encoder.model).eval(),
                args,
                str(out),
                input_names=list(INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as exc:  # torch.onnx raises many types (tracing, unsupported ops)
        raise ExportError(f"torch could not export the encoder to ONNX: {exc}. Serve the bundle with PyTorch.") from exc
    check_encoder_graph(encoder, out)


def check_encoder_graph(encoder: TorchEncoder, graph: Path, atol: float = 1e-3) -> None:
    """Compare the exported graph with PyTorch on two texts of different lengths.

    Raises:
        ExportError: the outputs differ by more than ``atol``.
    """
    from nlpops.runtimes.onnx import open_session

    session = open_session(graph, 1)
    encodings = encoder.tokenizer.encode_batch(["one", "two words and then a few more to make it longer"])
    ids, mask, types = pad_batch(encodings, encoder.pad_id)
    names = {i.name for i in session.get_inputs()}
    feed = {k: v for k, v in zip(INPUTS, (ids, mask, types), strict=True) if k in names}
    (onnx_hidden,) = session.run(None, feed)[:1]
    with encoder._torch.inference_mode():
        torch_hidden = encoder.forward(ids, mask, types).numpy()
    diff = float(np.abs((onnx_hidden - torch_hidden) * mask[:, :, None]).max())
    if diff > atol:
        raise ExportError(f"The exported encoder differs from PyTorch by {diff:.2e} (> {atol}). Please report this.")


def convert_encoder_bundle(source: Bundle, staging: Path) -> dict[str, Any]:
    """Write ``model.onnx``, the tokenizer and the head of a transformer bundle into ``staging``.

    Returns:
        runtime options for :class:`nlpops.runtimes.onnx.OnnxPredictor`.
    """
    options = dict(source.manifest.runtime_options)
    if options.get("encoder_kind", "hf") != "hf":
        raise ExportError(
            f'Bundle "{source.path}" uses the encoder "{options["encoder_kind"]}", which has no ONNX graph; '
            "it already serves without PyTorch. Use the bundle as it is."
        )
    encoder = TorchEncoder(
        source.path / str(options.get("encoder_dir", ENCODER_DIR)),
        max_length=int(options.get("max_length", 256)),
        pooling=str(options.get("pooling", "mean")),
        normalize=bool(options.get("normalize", True)),
    )
    export_encoder(encoder, staging / MODEL_FILE)
    shutil.copy2(
        source.file(str(options.get("tokenizer", f"{ENCODER_DIR}/{TOKENIZER_FILE}"))), staging / TOKENIZER_FILE
    )
    options.pop("encoder_dir", None)
    converted = {**options, "kind": "encoder", "model_file": MODEL_FILE, "tokenizer": TOKENIZER_FILE}
    if source.manifest.task == "embedding":  # the pooled vectors are the answer: no head
        return {**converted, "dim": encoder.dim}
    shutil.copy2(source.file(str(options.get("head", HEAD_FILE))), staging / HEAD_FILE)
    return {**converted, "head": HEAD_FILE}


__all__ = ["OPSET", "check_encoder_graph", "convert_encoder_bundle", "export_encoder"]
