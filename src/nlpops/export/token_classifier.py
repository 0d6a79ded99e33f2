"""Hugging Face token classifiers to ONNX: the whole model, head included, becomes one graph (token ids ->
per-token ``logits``); the softmax and the aggregation into spans stay in numpy, where the torch runtime does them
too (:mod:`nlpops.runtimes.token_classifier`).

Same exporter as the encoders (TorchScript, ``dynamo=False``, opset 17, dynamic batch and sequence axes).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from nlpops.bundle import Bundle
from nlpops.export.classifier import OUTPUT, check_logits_graph, export_logits_graph
from nlpops.runtimes.onnx import MODEL_FILE
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
    check_logits_graph(span_maker.tokenizer, span_maker.pad_id, out, model.batch_logits, what="token classifier")


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


__all__ = ["OUTPUT", "convert_token_classifier_bundle", "export_token_classifier"]
