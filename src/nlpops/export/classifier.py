"""Packaged Hugging Face classifiers to ONNX: the whole model, head included, becomes one graph (token ids ->
``logits``); the softmax stays in numpy, where the torch runtime applies it too.

Same exporter as the encoders (TorchScript, ``dynamo=False``, opset 17, dynamic batch and sequence axes).
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.bundle import Bundle
from nlpops.errors import ExportError
from nlpops.export.encoder import OPSET
from nlpops.runtimes.onnx import MODEL_FILE, open_session, pad_batch
from nlpops.runtimes.torch import TOKENIZER_FILE, SequenceClassifier, load_classifier

OUTPUT = "logits"


def export_classifier(classifier: SequenceClassifier, out: Path) -> None:
    """Write ``classifier`` as an ONNX graph over its inputs with dynamic (batch, sequence) axes.

    Raises:
        ExportError: torch cannot trace or export the model, or the graph differs from PyTorch.
    """
    export_logits_graph(
        classifier._torch, classifier.model, list(classifier.inputs), classifier.tokenizer, classifier.pad_id, out,
        logits_axes={0: "batch"}, what="the classifier",
    )  # fmt: skip
    check_logits_graph(classifier.tokenizer, classifier.pad_id, out, classifier.batch_logits, what="classifier")


def export_logits_graph(
    torch: Any,
    model: Any,
    names: list[str],
    tokenizer: Any,
    pad_id: int,
    out: Path,
    *,
    logits_axes: dict[int, str],
    what: str,
) -> None:
    """Trace a Hugging Face model's ``logits`` over the token inputs ``names`` into an ONNX graph at ``out``
    (dynamic batch and sequence axes on the inputs; ``logits_axes`` on the output). Sequence and token
    classifiers share it.

    Raises:
        ExportError: torch cannot trace or export the model (``what`` names it in the message).
    """
    sample = tokenizer.encode_batch(["a short example", "a somewhat longer example sentence for tracing"])
    ids, mask, types = pad_batch(sample, pad_id)
    arrays = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    args = tuple(torch.from_numpy(arrays[name]) for name in names)
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {OUTPUT: logits_axes}

    class _Wrapper(torch.nn.Module):  # type: ignore[misc]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs, strict=True))).logits

    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Wrapper(model.to("cpu")).eval(),
                args,
                str(out),
                input_names=names,
                output_names=[OUTPUT],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as exc:  # torch.onnx raises many types (tracing, unsupported ops)
        raise ExportError(f"torch could not export {what} to ONNX: {exc}. Serve the bundle with PyTorch.") from exc


def check_logits_graph(
    tokenizer: Any,
    pad_id: int,
    graph: Path,
    torch_logits: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    *,
    what: str,
    atol: float = 1e-3,
) -> None:
    """Compare the graph's ``logits`` with PyTorch's (``torch_logits(ids, mask, types)``) on two texts of
    different lengths. Sequence and token classifiers share it, as they share :func:`export_logits_graph`.

    Raises:
        ExportError: the logits differ by more than ``atol`` (``what`` names the model in the message).
    """
    session = open_session(graph, 1)
    encodings = tokenizer.encode_batch(["one", "two words and then a few more to make it longer"])
    ids, mask, types = pad_batch(encodings, pad_id)
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    names = {i.name for i in session.get_inputs()}
    (onnx_logits,) = session.run([OUTPUT], {k: v for k, v in feed.items() if k in names})
    diff = float(np.abs(onnx_logits - torch_logits(ids, mask, types)).max())
    if diff > atol:
        raise ExportError(f"The exported {what} differs from PyTorch by {diff:.2e} (> {atol}). Please report this.")


def convert_classifier_bundle(source: Bundle, staging: Path) -> dict[str, Any]:
    """Write ``model.onnx`` and the tokenizer of a packaged sequence-classifier bundle into ``staging``.

    Returns:
        runtime options for :class:`nlpops.runtimes.onnx.OnnxPredictor` (kind ``classifier``).
    """
    classifier = load_classifier(source, device="cpu")
    export_classifier(classifier, staging / MODEL_FILE)
    shutil.copy2(classifier.folder / TOKENIZER_FILE, staging / TOKENIZER_FILE)
    options = {k: v for k, v in source.manifest.runtime_options.items() if k not in ("model_dir", "inputs")}
    return {**options, "kind": "classifier", "model_file": MODEL_FILE, "tokenizer": TOKENIZER_FILE, "output": OUTPUT}


__all__ = ["OUTPUT", "check_logits_graph", "convert_classifier_bundle", "export_classifier", "export_logits_graph"]
