"""ONNX runtime: serves exported bundles with onnxruntime, numpy and tokenizers only.

Three kinds of graph, named by ``runtime_options["kind"]``:

- ``"sklearn"``: a scikit-learn pipeline converted by skl2onnx; input is a string tensor of shape (n, 1);
  the output is a (n, n_labels) tensor or skl2onnx's ZipMap (one ``{class: probability}`` map per text).
- ``"encoder"``: a sentence encoder graph (``input_ids``, ``attention_mask``[, ``token_type_ids``] ->
  ``last_hidden_state``) plus a linear head applied in numpy.
- ``"classifier"``: a whole text classifier (token ids -> class scores, e.g. a Hugging Face sequence
  classifier's ``logits``), turned into probabilities by :func:`activate`.

Token graphs get texts tokenized with ``tokenizers``, sorted by length and padded per batch to their longest
text, so short texts cost little.

Importing or using this module never imports torch, transformers, scikit-learn or spaCy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.bundle import Bundle
from nlpops.errors import MissingExtraError, RuntimeLoadError
from nlpops.runtimes.base import BasePredictor

MODEL_FILE = "model.onnx"
WORDS_FILE = "words.json"  # the word vocabulary of an exported TF-IDF graph (for out-of-vocabulary counts)
THREADS_ENV = "NLPOPS_ONNX__INTRA_OP_THREADS"


CHAR_WB_PAD = "char_wb_pad.v1"


def pad_words(text: str) -> str:
    """``" " + "  ".join(words) + " "``: char n-grams of this are scikit-learn's char_wb n-grams of ``text``.

    An n-gram crossing a word boundary holds two spaces in a row, which no vocabulary term has.
    """
    return " " + "  ".join(text.split()) + " "


_TEXT_TRANSFORMS = {CHAR_WB_PAD: pad_words}


def softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (numerically stable)."""
    scores = np.asarray(scores, dtype=np.float64)
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def sigmoid(scores: np.ndarray) -> np.ndarray:
    """Element-wise logistic function in float64 (independent per-label probabilities)."""
    scores = np.asarray(scores, dtype=np.float64)
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * scores)))


def normalize_rows(scores: np.ndarray) -> np.ndarray:
    """Rows rescaled to sum to 1 in float64 (a graph that already returns probabilities; all-zero rows kept)."""
    values = np.asarray(scores, dtype=np.float64)
    total = values.sum(axis=1, keepdims=True)
    return np.asarray(values / np.where(total > 0, total, 1.0))


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "softmax": softmax,
    "probabilities": normalize_rows,
    "sigmoid": sigmoid,
}
"""How class scores become probabilities, the one table for the torch and ONNX runtimes and the numpy head:
``softmax`` (logits of exclusive classes), ``probabilities`` (the graph already returns them; rows are
renormalised), ``sigmoid`` (logits of independent labels: multi-label models; rows need not sum to 1)."""


def activate(scores: np.ndarray, activation: str) -> np.ndarray:
    """Probabilities (n, n_labels) from class scores, the way ``activation`` (a key of :data:`ACTIVATIONS`) says.

    Raises:
        RuntimeLoadError: an activation this nlpops does not know.
    """
    function = ACTIVATIONS.get(activation)
    if function is None:
        raise RuntimeLoadError(f'Unknown activation "{activation}" (known: {", ".join(ACTIVATIONS)}). Upgrade nlpops.')
    return function(scores)


class LinearHead:
    """A linear classifier over embeddings, with weights read from an ``.npz`` file (no pickle).

    ``coef`` has shape (n_labels, dim), or (1, dim) for a binary logistic regression (scores [0, z]).
    A ``multilabel`` head has one row per label and answers independent sigmoid probabilities.
    """

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, *, multilabel: bool = False) -> None:
        self.coef = np.asarray(coef, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.multilabel = multilabel

    @classmethod
    def load(cls, path: Path, *, multilabel: bool = False) -> LinearHead:
        """Read ``coef`` and ``intercept`` from ``path`` (``multilabel``: the bundle's task is multilabel).

        Raises:
            RuntimeLoadError: the file is not a readable head.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(data["coef"], data["intercept"], multilabel=multilabel)
        except (OSError, KeyError, ValueError) as exc:
            raise RuntimeLoadError(
                f'"{path}" is not a readable classification head ({exc}). Rebuild the bundle.'
            ) from exc

    def save(self, path: Path) -> None:
        """Write the weights to ``path`` (``.npz``)."""
        np.savez(path, coef=self.coef, intercept=self.intercept)

    def predict_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """Probabilities (n, n_labels) for embeddings (n, dim)."""
        logits = embeddings.astype(np.float32) @ self.coef.T + self.intercept
        if self.multilabel:
            return activate(logits, "sigmoid")
        if logits.shape[1] == 1:
            logits = np.concatenate([np.zeros_like(logits), logits], axis=1)
        return activate(logits, "softmax")


def pool(hidden: np.ndarray, mask: np.ndarray, pooling: str, normalize: bool) -> np.ndarray:
    """Sentence embeddings from token states (n, seq, dim): ``mean`` over real tokens or ``cls``."""
    if pooling == "cls":
        emb = hidden[:, 0, :].astype(np.float32)
    else:
        weights = mask[:, :, None].astype(np.float32)
        emb = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    if normalize:
        emb = emb / np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
    return np.asarray(emb, dtype=np.float32)


def load_tokenizer(path: Path, max_length: int) -> Any:
    """A ``tokenizers.Tokenizer`` with padding off (we pad per batch) and truncation at ``max_length``.

    Raises:
        MissingExtraError: ``tokenizers`` is not installed.
        RuntimeLoadError: the file cannot be read.
    """
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise MissingExtraError.for_extra("Transformer bundles", "transformer", "tokenizers") from exc
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on a bad file
        raise RuntimeLoadError(f'"{path}" is not a readable tokenizer.json ({exc}). Rebuild the bundle.') from exc
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def pad_batch(encodings: list[Any], pad_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``input_ids``, ``attention_mask``, ``token_type_ids`` padded to the longest encoding of the batch."""
    width = max(len(e.ids) for e in encodings)
    ids = np.full((len(encodings), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    types = np.zeros((len(encodings), width), dtype=np.int64)
    for row, enc in enumerate(encodings):
        n = len(enc.ids)
        ids[row, :n] = enc.ids
        mask[row, :n] = 1
        types[row, :n] = enc.type_ids
    return ids, mask, types


def length_sorted_batches(lengths: list[int], batch_size: int, sort: bool = True) -> list[list[int]]:
    """Row indices grouped into batches of at most ``batch_size``, longest first when ``sort``."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i]) if sort else list(range(len(lengths)))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def resolve_intra_op_threads(requested: int | None, options: dict[str, Any]) -> int:
    """Threads for one session: the argument, else ``NLPOPS_ONNX__INTRA_OP_THREADS``, else the bundle's, else 0.

    0 lets onnxruntime use one thread per physical core.

    Raises:
        RuntimeLoadError: the environment variable is not an integer >= 0.
    """
    if requested is not None:
        return requested
    raw = os.environ.get(THREADS_ENV)
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if value < 0:
            raise RuntimeLoadError(f"{THREADS_ENV} must be an integer >= 0. Got {raw!r}.")
        return value
    return int(options.get("intra_op_threads", 0))


def open_session(path: Path, threads: int) -> Any:
    """An onnxruntime CPU session with full graph optimizations and ``threads`` intra-op threads.

    Raises:
        MissingExtraError: onnxruntime is not installed.
        RuntimeLoadError: the graph cannot be loaded.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingExtraError.for_extra("ONNX bundles", "export", "onnxruntime") from exc
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types from C++
        raise RuntimeLoadError(
            f'onnxruntime cannot load "{path}": {exc}. Re-export the bundle with this nlpops version.'
        ) from exc


class OnnxPredictor(BasePredictor):
    """Predictor over an ONNX graph: a converted scikit-learn pipeline, an encoder plus a numpy head, or a whole
    token classifier.

    Args:
        bundle: a verified bundle with runtime ``onnx``.
        intra_op_threads: threads per session (default: ``NLPOPS_ONNX__INTRA_OP_THREADS`` or all cores).
        sort_by_length: group texts of similar token length into the same batch (token graphs).

    Raises:
        RuntimeLoadError: the graph, tokenizer or head cannot be loaded or do not match the labels.
        MissingExtraError: onnxruntime or tokenizers is not installed.
    """

    def __init__(self, bundle: Bundle, intra_op_threads: int | None = None, sort_by_length: bool = True) -> None:
        super().__init__(bundle)
        options = dict(bundle.manifest.runtime_options)
        self.kind = str(options.get("kind", "sklearn"))
        self.sort_by_length = sort_by_length
        self.batch_size = int(options.get("batch_size", 32))
        self.threads = resolve_intra_op_threads(intra_op_threads, options)
        self.session = open_session(bundle.file(str(options.get("model_file", MODEL_FILE))), self.threads)
        self._inputs = [i.name for i in self.session.get_inputs()]
        self._words_path: Path | None = None
        self._words: frozenset[str] | None = None
        self.head: LinearHead | None = None
        if self.kind == "sklearn":
            self._output = str(options.get("output", "probabilities"))
            self._scores_are_margins = bool(options.get("margins", False))
            keys = options.get("zipmap_keys")  # skl2onnx's ZipMap output: the map key of each label, in order
            self._zipmap_keys: list[Any] | None = list(keys) if keys is not None else None
            transform = options.get("text_transform")
            if transform is not None and transform not in _TEXT_TRANSFORMS:
                raise RuntimeLoadError(
                    f'Bundle "{bundle.path}" needs the text transform "{transform}", which this nlpops does not '
                    f"know (known: {', '.join(_TEXT_TRANSFORMS)}). Upgrade nlpops."
                )
            self._transform = _TEXT_TRANSFORMS.get(transform) if transform else None
            words_file = options.get("vocabulary_file")
            self._words_path = bundle.file(str(words_file)) if words_file else None
        elif self.kind in ("encoder", "classifier"):
            self.max_length = int(options.get("max_length", 256))
            self.tokenizer = load_tokenizer(
                bundle.file(str(options.get("tokenizer", "tokenizer.json"))), self.max_length
            )
            self.pad_id = int(options.get("pad_id", 0))
            if self.kind == "classifier":
                self._output = str(options.get("output", "logits"))
                default = "sigmoid" if self.task == "multilabel" else "softmax"
                self.activation = str(options.get("activation", default))
                activate(np.zeros((1, 2)), self.activation)  # an unknown activation fails at load, not per request
            else:
                self.pooling = str(options.get("pooling", "mean"))
                self.normalize = bool(options.get("normalize", True))
                self.dim = int(options.get("dim", 0))
                if bundle.manifest.task != "embedding":  # an embedding bundle answers the pooled vectors: no head
                    self.head = LinearHead.load(
                        bundle.file(str(options.get("head", "head.npz"))), multilabel=self.task == "multilabel"
                    )
                    self.dim = int(self.head.coef.shape[1])
                    if self.head.coef.shape[0] not in (len(self.labels), 1):
                        raise RuntimeLoadError(
                            f'Bundle "{bundle.path}": the head has {self.head.coef.shape[0]} outputs for '
                            f"{len(self.labels)} labels. Rebuild the bundle."
                        )
                elif self.dim < 1:
                    raise RuntimeLoadError(f'Bundle "{bundle.path}" does not say its vector size (dim). Re-export it.')
        else:
            raise RuntimeLoadError(
                f'Bundle "{bundle.path}" has ONNX graph kind "{self.kind}", which this nlpops does not know '
                "(known: sklearn, encoder, classifier). Upgrade nlpops."
            )

    def vocabulary(self) -> frozenset[str] | None:
        """The word vocabulary of an exported TF-IDF graph (read once from ``words.json``); None for encoders."""
        if self._words_path is None:
            return None
        if self._words is None:
            try:
                self._words = frozenset(json.loads(self._words_path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise RuntimeLoadError(f'"{self._words_path}" is not a readable word list: {exc}') from exc
        return self._words

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        if self.kind == "sklearn":
            return self._sklearn_proba(texts)
        if self.kind == "classifier":
            return self._classifier_proba(texts)
        assert self.head is not None  # only embedding bundles have no head, and they answer embed()
        return self.head.predict_proba(self.encode(texts, preprocessed=True))

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self.kind != "encoder":
            return super()._embed(texts)
        return self.encode(texts, preprocessed=True)

    def _sklearn_proba(self, texts: list[str]) -> np.ndarray:
        if self._transform is not None:
            texts = [self._transform(t) for t in texts]
        feed = {self._inputs[0]: np.asarray(texts, dtype=object).reshape(-1, 1)}
        (raw,) = self.session.run([self._output], feed)
        if self._zipmap_keys is not None:
            raw = [[row[key] for key in self._zipmap_keys] for row in raw]
        scores = np.asarray(raw, dtype=np.float64)
        if self.task == "multilabel":  # independent per-label probabilities: never normalised across labels
            return activate(scores, "sigmoid") if self._scores_are_margins else scores
        if scores.ndim == 1 or scores.shape[1] == 1:
            margin = scores.reshape(-1)
            scores = np.stack([-margin, margin], axis=1)
        return activate(scores, "softmax" if self._scores_are_margins else "probabilities")

    def _token_batches(self, items: list[str]) -> Iterator[tuple[list[int], dict[str, np.ndarray], np.ndarray]]:
        """``(rows, feed, attention_mask)`` per batch of texts of similar token length."""
        encodings = self.tokenizer.encode_batch(items)
        for rows in length_sorted_batches([len(e.ids) for e in encodings], self.batch_size, self.sort_by_length):
            ids, mask, types = pad_batch([encodings[i] for i in rows], self.pad_id)
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            yield rows, {k: v for k, v in feed.items() if k in self._inputs}, mask

    def _classifier_proba(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        for rows, feed, _mask in self._token_batches(texts):
            (scores,) = self.session.run([self._output], feed)
            if scores.shape != (len(rows), len(self.labels)):
                raise RuntimeLoadError(
                    f'Bundle "{self.bundle.path}": the graph returns scores of shape {scores.shape} for '
                    f"{len(rows)} texts and {len(self.labels)} labels. Rebuild the bundle."
                )
            out[rows] = scores
        return activate(out, self.activation)

    def encode(self, texts: Sequence[str], *, preprocessed: bool = False) -> np.ndarray:
        """Sentence embeddings (n, dim) of ``texts`` from the encoder graph (encoder graphs only), batched by token
        length: what the head classifies. (``embed`` is the embedding task's answer, :class:`Predictor`.)"""
        items = list(texts) if preprocessed else self._preprocess(texts)
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        for rows, feed, mask in self._token_batches(items):
            (hidden,) = self.session.run(None, feed)[:1]
            out[rows] = pool(np.asarray(hidden), mask, self.pooling, self.normalize)
        return out

    def text_lengths(self, texts: Sequence[str]) -> list[int]:
        """Token counts for token graphs (the batching cost), characters for converted pipelines."""
        if self.kind == "sklearn":
            return super().text_lengths(texts)
        return [len(e.ids) for e in self.tokenizer.encode_batch(self._preprocess(texts))]


__all__ = [
    "ACTIVATIONS",
    "CHAR_WB_PAD",
    "MODEL_FILE",
    "THREADS_ENV",
    "WORDS_FILE",
    "LinearHead",
    "OnnxPredictor",
    "activate",
    "length_sorted_batches",
    "load_tokenizer",
    "open_session",
    "pad_batch",
    "pad_words",
    "pool",
    "resolve_intra_op_threads",
    "sigmoid",
    "softmax",
]
