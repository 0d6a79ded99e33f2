"""Hugging Face token classifiers (``AutoModelForTokenClassification``) as entity models.

A bundle of kind ``token_classifier`` holds the model folder (``model/``: ``config.json``, safetensors weights,
``tokenizer.json``) for the torch runtime, or one ONNX graph (token ids -> per-token ``logits``) and the tokenizer
for the ONNX runtime. Both tokenize with the fast tokenizer (truncation at ``max_length``, padding per batch of
similar lengths) and turn each text's per-token logits into character spans the way transformers'
``pipeline("token-classification", aggregation_strategy="simple")`` does (:mod:`nlpops.runtimes.token_spans`).
The tags (``B-PER``, ``I-PER``, ``O``...) are in the runtime options in id order; the bundle's labels are the
entity types they name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.bundle import Bundle
from nlpops.errors import RuntimeLoadError
from nlpops.runtimes.base import BasePredictor, RoutingDecision
from nlpops.runtimes.onnx import length_sorted_batches, load_tokenizer, pad_batch
from nlpops.runtimes.token_spans import aggregate_simple, entity_types, softmax
from nlpops.runtimes.torch import INPUTS, HfLogitsModel
from nlpops.tasks import Spans

TOKEN_CLASSIFIER_KIND = "token_classifier"
MODEL_DIR = "model"
TOKENIZER_FILE = "tokenizer.json"

LogitsFn = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``(input_ids, attention_mask, token_type_ids) -> logits (batch, sequence, tags)`` for one padded batch."""


def token_classifier_options(
    *, tags: Sequence[str], max_length: int, inputs: Sequence[str] = INPUTS, pad_id: int = 0, batch_size: int = 32
) -> dict[str, Any]:
    """The runtime options of a token-classifier bundle (files under ``model/`` for the torch runtime)."""
    return {
        "kind": TOKEN_CLASSIFIER_KIND,
        "model_dir": MODEL_DIR,
        "tokenizer": f"{MODEL_DIR}/{TOKENIZER_FILE}",
        "tags": list(tags),
        "max_length": max_length,
        "inputs": list(inputs),
        "pad_id": pad_id,
        "batch_size": batch_size,
    }


class TokenSpans:
    """Texts to spans over any logits function: the tokenization, batching and aggregation both runtimes share.

    Args:
        tokenizer_file: the model's ``tokenizer.json`` (a fast tokenizer).
        tags: the tag of each logit, in id order.
        max_length: tokens kept per text (the tokenizer's ``model_max_length``).
        pad_id: the padding token id.
        batch_size: texts per forward pass, of similar token length.

    Raises:
        RuntimeLoadError: the tokenizer cannot be read, or the tags name no entity type.
    """

    def __init__(self, tokenizer_file: Path, tags: Sequence[str], *, max_length: int, pad_id: int, batch_size: int):
        self.tokenizer = load_tokenizer(tokenizer_file, max_length)
        self.tags = [str(t) for t in tags]
        if not entity_types(self.tags):
            raise RuntimeLoadError(f'"{tokenizer_file.parent}": the tags {self.tags} name no entity type.')
        self.max_length, self.pad_id, self.batch_size = max_length, pad_id, batch_size

    @property
    def labels(self) -> list[str]:
        """The entity types the tags name."""
        return entity_types(self.tags)

    def spans(self, texts: Sequence[str], logits: LogitsFn) -> Spans:
        """The spans of each text (character offsets into the text as given)."""
        encodings = self.tokenizer.encode_batch(list(texts))
        out: Spans = [[] for _ in encodings]
        for rows in length_sorted_batches([len(e.ids) for e in encodings], self.batch_size):
            batch = [encodings[i] for i in rows]
            scores = np.asarray(logits(*pad_batch(batch, self.pad_id)), dtype=np.float32)
            for j, row in enumerate(rows):
                encoding = encodings[row]
                n = len(encoding.ids)
                proba = softmax(scores[j, :n])
                out[row] = aggregate_simple(proba, encoding.offsets, encoding.special_tokens_mask, self.tags)
        return out

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts))]


def token_spans_of(bundle: Bundle, tokenizer: str) -> TokenSpans:
    """The :class:`TokenSpans` of a token-classifier bundle, its tokenizer at ``tokenizer`` (a bundle file).

    Raises:
        RuntimeLoadError: the tags do not name the manifest's labels.
    """
    options = bundle.manifest.runtime_options
    spans = TokenSpans(
        bundle.file(tokenizer),
        [str(t) for t in options.get("tags", [])],
        max_length=int(options.get("max_length", 512)),
        pad_id=int(options.get("pad_id", 0)),
        batch_size=int(options.get("batch_size", 32)),
    )
    if spans.labels != sorted(bundle.manifest.labels):
        raise RuntimeLoadError(
            f'Bundle "{bundle.path}": the tags name the entity types {spans.labels}, the manifest '
            f"{bundle.manifest.labels}. Rebuild the bundle."
        )
    return spans


class TorchTokenClassifier(HfLogitsModel):
    """A Hugging Face token-classifier folder run with PyTorch: token ids to per-token logits
    (:meth:`~nlpops.runtimes.torch.HfLogitsModel.batch_logits`, a :data:`LogitsFn`).

    Raises:
        MissingExtraError: torch or transformers is not installed.
        RuntimeLoadError: the folder is not a loadable token classifier.
    """

    auto_class = "AutoModelForTokenClassification"
    kind = "token classifier"

    @property
    def tags(self) -> list[str]:
        """The model's tags in id order (``config.id2label``)."""
        config = self.model.config
        return [str(config.id2label[i]) for i in range(int(config.num_labels))]


def load_token_classifier(bundle: Bundle, device: str | None = None) -> tuple[TorchTokenClassifier, TokenSpans]:
    """The model and the span maker of a torch token-classifier bundle.

    Raises:
        RuntimeLoadError: the model's tags differ from the bundle's.
    """
    options = bundle.manifest.runtime_options
    spans = token_spans_of(bundle, str(options.get("tokenizer", f"{MODEL_DIR}/{TOKENIZER_FILE}")))
    model = TorchTokenClassifier(
        bundle.path / str(options.get("model_dir", MODEL_DIR)),
        inputs=[str(x) for x in options.get("inputs", INPUTS)],
        device=device,
    )
    if model.tags != spans.tags:
        raise RuntimeLoadError(f"Bundle \"{bundle.path}\": the model's tags differ from the manifest's. Rebuild it.")
    return model, spans


class TorchTokenPredictor(BasePredictor):
    """A token-classifier bundle served with PyTorch (as packaged, before ONNX export)."""

    def __init__(self, bundle: Bundle) -> None:
        super().__init__(bundle)
        self.model, self.span_maker = load_token_classifier(bundle)

    @property
    def device(self) -> str:
        """Where the model runs (``cpu``, ``cuda``); the profile reports it."""
        return str(self.model.device)

    def predict_entities(self, texts: Sequence[str], routing: RoutingDecision | None = None) -> Spans:
        """The spans of each text, aggregated from the per-token tags as transformers' pipeline does."""
        return self.span_maker.spans(self._preprocess(texts), self.model.batch_logits)

    def text_lengths(self, texts: Sequence[str]) -> list[int]:
        """Token counts (the cost that matters for batching)."""
        return self.span_maker.token_counts(self._preprocess(texts))


class OnnxTokenPredictor(BasePredictor):
    """A token-classifier bundle exported to one ONNX graph (token ids -> per-token ``logits``), no PyTorch.

    Args:
        bundle: a verified bundle with runtime ``onnx`` and kind ``token_classifier``.
        intra_op_threads: threads per session (default: ``NLPOPS_ONNX__INTRA_OP_THREADS`` or all cores).
    """

    def __init__(self, bundle: Bundle, intra_op_threads: int | None = None) -> None:
        from nlpops.runtimes.onnx import MODEL_FILE, open_session, resolve_intra_op_threads

        super().__init__(bundle)
        options = dict(bundle.manifest.runtime_options)
        self.threads = resolve_intra_op_threads(intra_op_threads, options)
        self.session = open_session(bundle.file(str(options.get("model_file", MODEL_FILE))), self.threads)
        self._inputs = {i.name for i in self.session.get_inputs()}
        self._output = str(options.get("output", "logits"))
        self.span_maker = token_spans_of(bundle, str(options.get("tokenizer", TOKENIZER_FILE)))

    def _logits(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        (logits,) = self.session.run([self._output], {k: v for k, v in feed.items() if k in self._inputs})
        return np.asarray(logits)

    def predict_entities(self, texts: Sequence[str], routing: RoutingDecision | None = None) -> Spans:
        """The spans of each text, aggregated from the per-token tags as transformers' pipeline does."""
        return self.span_maker.spans(self._preprocess(texts), self._logits)

    def text_lengths(self, texts: Sequence[str]) -> list[int]:
        """Token counts (the cost that matters for batching)."""
        return self.span_maker.token_counts(self._preprocess(texts))


__all__ = [
    "INPUTS",
    "MODEL_DIR",
    "TOKENIZER_FILE",
    "TOKEN_CLASSIFIER_KIND",
    "LogitsFn",
    "OnnxTokenPredictor",
    "TokenSpans",
    "TorchTokenClassifier",
    "TorchTokenPredictor",
    "load_token_classifier",
    "token_classifier_options",
    "token_spans_of",
]
