"""Hugging Face token classifiers to ONNX: the whole model, head included, becomes one graph (token ids ->
per-token ``logits``); the softmax and the aggregation into spans stay in numpy, where the torch runtime does them
too (:mod:`nlpops.runtimes.token_classifier`).

Same exporter as the encoders (TorchScript, ``dynamo=False``, opset 17, dynamic batch and sequence axes).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.bundle import Bundle
from nlpops.errors import ExportError
from nlpops.export.classifier import OUTPUT, export_logits_graph
from nlpops.runtimes.onnx import MODEL_FILE, open_session, pad_batch
from nlpops.runtimes.token_classifier import TOKENIZER_FILE, TokenSpans, TorchTokenClassifier, load_token_classifier


def export_token_classifier(model: TorchTokenClassifier, span_maker: TokenSpans, out: Path) -> None:
    """Write ``model`` as an ONNX graph over its inputs with dynamic (batch, sequence) axes.

    Raises:
        ExportError: torch cannot trace or export the model, or the graph differs from PyTorch.
    """
    export_logits_graph(
        model._torch, model.model, list(model.inputs), span_maker.tokenizer, span_maker.pad_id, out,
        logits_axes={0: "batch", 1: "sequence"}, what="the token classifier",
    )  # fmt: skip
    check_token_classifier_graph(model, span_maker, out)


def check_token_classifier_graph(
    model: TorchTokenClassifier, span_maker: TokenSpans, graph: Path, atol: float = 1e-3
) -> None:
    """Compare the graph's per-token logits with PyTorch's on two texts of different lengths.

    Raises:
        ExportError: the logits differ by more than ``atol``.
    """
    session = open_session(graph, 1)
    encodings = span_maker.tokenizer.encode_batch(["one", "two words and then a few more to make it longer"])
    ids, mask, types = pad_batch(encodings, span_maker.pad_id)
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    names = {i.name for i in session.get_inputs()}
    (onnx_logits,) = session.run([OUTPUT], {k: v for k, v in feed.items() if k in names})
    diff = float(np.abs(onnx_logits - model.logits(ids, mask, types)).max())
    if diff > atol:
        raise ExportError(
            f"The exported token classifier differs from PyTorch by {diff:.2e} (> {atol}). Please report this."
        )


def convert_token_classifier_bundle(source: Bundle, staging: Path) -> dict[str, Any]:
    """Write ``model.onnx`` and the tokenizer of a token-classifier bundle into ``staging``.

    Returns:
        runtime options for :class:`nlpops.runtimes.token_classifier.OnnxTokenPredictor`.
    """
    model, span_maker = load_token_classifier(source, device="cpu")
    export_token_classifier(model, span_maker, staging / MODEL_FILE)
    shutil.copy2(model.folder / TOKENIZER_FILE, staging / TOKENIZER_FILE)
    options = {k: v for k, v in source.manifest.runtime_options.items() if k not in ("model_dir", "inputs")}
    return {**options, "model_file": MODEL_FILE, "tokenizer": TOKENIZER_FILE, "output": OUTPUT}


__all__ = ["OUTPUT", "check_token_classifier_graph", "convert_token_classifier_bundle", "export_token_classifier"]
