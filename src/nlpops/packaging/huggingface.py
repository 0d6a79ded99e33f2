"""Hugging Face sequence classifiers: a folder written by ``save_pretrained`` (``config.json`` with ``id2label``,
``model.safetensors`` or ``pytorch_model.bin``, a fast tokenizer's ``tokenizer.json``).

The bundle holds the whole model, head included, under ``model/`` as safetensors (a ``pytorch_model.bin`` is
read once with transformers' safe loader and converted: a bundle never holds a pickle); the torch runtime
serves it, ``nlpops export`` turns it into one ONNX graph. Labels come from ``id2label``.
"""

from __future__ import annotations

import inspect
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.bundle import Bundle
from nlpops.checklist import TransformerSettings
from nlpops.data import Dataset
from nlpops.errors import DataError, PackageError
from nlpops.families.base import package_versions
from nlpops.metrics import indicator
from nlpops.packaging.source import SourceOptions, check_labels
from nlpops.runtimes.onnx import activate, pad_batch
from nlpops.runtimes.torch import CLASSIFIER_DIR, TOKENIZER_FILE, classifier_options, import_torch, load_classifier
from nlpops.tasks import TaskName

CONFIG_FILE = "config.json"
TOKENIZER_FILES = (TOKENIZER_FILE, "tokenizer_config.json", "special_tokens_map.json")
SAFETENSORS = ("model.safetensors", "model.safetensors.index.json")
PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
SLOW_TOKENIZER_FILES = ("vocab.txt", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model", "vocab.json")
TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_BATCH = 16


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageError(
            f'"{path}" is not readable JSON ({exc}). Save the model again with save_pretrained.'
        ) from exc
    if not isinstance(config, dict):
        raise PackageError(f'"{path}" must hold a JSON object. Save the model again with save_pretrained.')
    return config


def labels_of(folder: Path, config: dict[str, Any]) -> list[str]:
    """The class names from ``id2label``, in output order.

    Raises:
        PackageError: no ``id2label``, a regression head, or ids that are not 0..n-1.
    """
    path = folder / CONFIG_FILE
    problem = config.get("problem_type")
    id2label = config.get("id2label")
    if problem == "regression" or (isinstance(id2label, dict) and len(id2label) == 1):
        raise PackageError(
            f'"{path}" describes a regression head (one output), not a classifier. Package a classifier.'
        )
    if not isinstance(id2label, dict) or not id2label:
        raise PackageError(
            f'"{path}" has no id2label, so the classes have no names. Add them: model.config.id2label = '
            f'{{0: "first", 1: "second", ...}}, then model.save_pretrained("{folder}").'
        )
    try:
        by_id = {int(k): str(v) for k, v in id2label.items()}
    except (TypeError, ValueError) as exc:
        raise PackageError(f'"{path}": id2label keys must be class indices 0..n-1 ({exc}).') from exc
    if sorted(by_id) != list(range(len(by_id))):
        raise PackageError(f'"{path}": id2label keys must be 0..{len(by_id) - 1}; got {sorted(by_id)[:10]}.')
    return check_labels(str(folder), [by_id[i] for i in range(len(by_id))], f"id2label in {path}")


def task_of(config: dict[str, Any]) -> TaskName:
    """``multilabel`` when the config says ``problem_type: multi_label_classification`` (transformers then
    applies a sigmoid per label), else ``classification`` (softmax over the labels)."""
    return "multilabel" if config.get("problem_type") == "multi_label_classification" else "classification"


def _check_folder(folder: Path, config: dict[str, Any]) -> None:
    path = folder / CONFIG_FILE
    if config.get("auto_map"):
        raise PackageError(
            f'"{path}" needs custom model code (auto_map); nlpops loads only architectures that ship with '
            "transformers and never runs code from a model folder."
        )
    architectures = [str(a) for a in config.get("architectures") or []]
    if architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise PackageError(
            f'"{path}" names the architecture {", ".join(architectures)}, not a sequence classifier. Fine-tune it '
            "with AutoModelForSequenceClassification and save_pretrained, then package that folder."
        )
    if not any((folder / f).is_file() for f in (*SAFETENSORS, *PICKLED_WEIGHTS)):
        raise PackageError(f'"{folder}" has no weights (model.safetensors or pytorch_model.bin). Run save_pretrained.')
    if not (folder / TOKENIZER_FILE).is_file():
        slow = [f for f in SLOW_TOKENIZER_FILES if (folder / f).is_file()]
        if slow:
            raise PackageError(
                f'"{folder}" has only a slow tokenizer ({slow[0]}), no tokenizer.json; nlpops serves with the fast '
                f'one. Write it: AutoTokenizer.from_pretrained("{folder}").save_pretrained("{folder}")'
            )
        raise PackageError(
            f'"{folder}" has no tokenizer.json. Save the fast tokenizer next to the model: '
            "tokenizer.save_pretrained(FOLDER) with the tokenizer you trained with."
        )


class HuggingFaceSource:
    """A sequence classifier opened with transformers; answers with softmax over its logits, or a sigmoid per
    label for a multi-label model (``problem_type: multi_label_classification``), as transformers' pipeline does."""

    kind = "huggingface"
    family = "transformer"
    runtime = "torch"

    def __init__(self, folder: Path, origin: str, config: dict[str, Any], labels: list[str]) -> None:
        torch, transformers = import_torch()
        transformers.utils.logging.disable_progress_bar()
        self.folder, self.origin, self.config, self.labels = folder, origin, config, labels
        self.task: TaskName = task_of(config)
        self.activation = "sigmoid" if self.task == "multilabel" else "softmax"
        self.languages: list[str] = []
        try:
            model, info = transformers.AutoModelForSequenceClassification.from_pretrained(
                str(folder), local_files_only=True, output_loading_info=True
            )
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PackageError(f'transformers cannot load "{folder}": {exc}') from exc
        missing = list(info.get("missing_keys") or [])
        if missing:
            raise PackageError(
                f'The weights in "{folder}" lack part of the model ({", ".join(sorted(missing)[:3])}): the classifier '
                "head was not saved. Save the fine-tuned model itself with save_pretrained."
            )
        self.model = model.eval()
        self._torch = torch
        limit = int(self.tokenizer.model_max_length)
        self.max_length = min(limit if 0 < limit <= 100_000 else 512, int(config.get("max_position_embeddings", 512)))
        accepted = set(inspect.signature(self.model.forward).parameters)
        self.inputs = [n for n in self.tokenizer.model_input_names if n in TOKEN_INPUTS and n in accepted]
        if "input_ids" not in self.inputs:
            raise PackageError(f'The tokenizer of "{folder}" does not produce input_ids. Package a text classifier.')
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else config.get("pad_token_id")
        self.pad_id = int(pad or 0)
        self.requirements = package_versions("torch", "transformers", "tokenizers", "safetensors", "numpy")
        self.runtime_options = classifier_options(
            max_length=self.max_length, inputs=self.inputs, pad_id=self.pad_id, activation=self.activation
        )

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """transformers' own answer: the tokenizer, the model, softmax (multi-label: sigmoid) over the logits."""
        rows = []
        with self._torch.inference_mode():
            for start in range(0, len(texts), _BATCH):
                batch = self.tokenizer(
                    list(texts[start : start + _BATCH]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                feed = {k: v for k, v in batch.items() if k in self.inputs}
                rows.append(self.model(**feed).logits.double().numpy())
        return activate(np.concatenate(rows), self.activation) if rows else np.zeros((0, len(self.labels)))

    def save(self, directory: Path) -> None:
        target = directory / CLASSIFIER_DIR
        target.mkdir(parents=True)
        if any((self.folder / f).is_file() for f in SAFETENSORS):
            shutil.copy2(self.folder / CONFIG_FILE, target / CONFIG_FILE)
            index = self.folder / SAFETENSORS[1]
            weights = [SAFETENSORS[0]] if (self.folder / SAFETENSORS[0]).is_file() else [index.name]
            if index.is_file():
                weights += sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            for name in weights:
                shutil.copy2(self.folder / name, target / name)
        else:  # pytorch_model.bin: converted once (loaded with transformers' weights-only loader above)
            self.model.save_pretrained(str(target), safe_serialization=True)
            for extra in target.iterdir():
                if extra.name != CONFIG_FILE and not extra.name.endswith((".safetensors", ".safetensors.index.json")):
                    extra.unlink()
        for name in TOKENIZER_FILES:
            if (self.folder / name).is_file():
                shutil.copy2(self.folder / name, target / name)

    def describe(self) -> dict[str, Any]:
        weights = "safetensors" if any((self.folder / f).is_file() for f in SAFETENSORS) else "pytorch_model.bin"
        return {
            "architecture": type(self.model).__name__,
            "model_type": self.config.get("model_type"),
            "weights": weights if weights == "safetensors" else "pytorch_model.bin, converted to safetensors",
            "max_length": self.max_length,
            "problem_type": self.config.get("problem_type") or "single_label_classification",
        }


def open_huggingface(source: str, options: SourceOptions) -> HuggingFaceSource:
    """Open a Hugging Face sequence-classifier folder (every refusal names the file and what to do).

    Raises:
        PackageError: see :func:`labels_of` and the folder checks. MissingExtraError: torch/transformers missing.
    """
    folder = Path(source).expanduser()
    config = _read_config(folder)
    _check_folder(folder, config)
    labels = labels_of(folder, config)
    return HuggingFaceSource(folder, source, config, labels)


def fine_tune_classifier(bundle: Bundle, data: Dataset, settings: TransformerSettings, out: Path) -> Path:
    """Continue fine-tuning a packaged classifier from its weights on ``data``; save it as a Hugging Face folder.

    Uses ``settings.epochs``, ``learning_rate``, ``batch_size`` and ``seed``; the classes stay those of the
    packaged model. A multi-label model (sigmoid per label) learns from label sets with binary cross entropy,
    as transformers trains ``multi_label_classification`` models.

    Raises:
        DataError: ``data`` is labelled for another task, or has labels the model does not know.
    """
    labels = list(bundle.manifest.labels)
    task = bundle.manifest.task
    if data.task != task:
        raise DataError(
            f'"{data.source}" is {data.task} data; the packaged classifier "{bundle.manifest.name}" is a {task} '
            f"model. Retrain it on {task} data (the formats: docs/tasks.md)."
        )
    unknown = sorted(set(data.label_names()) - set(labels))
    if unknown:
        raise DataError(
            f'"{data.source}" has labels the packaged classifier "{bundle.manifest.name}" does not know: '
            f"{', '.join(unknown[:5])}. Its classes are fixed ({len(labels)}); package a model trained on them."
        )
    classifier = load_classifier(bundle, device=None)
    torch = classifier._torch
    torch.manual_seed(settings.seed)
    if task == "multilabel":
        truth = indicator(data.label_sets or [], labels).astype(np.float32)
        targets = torch.from_numpy(truth).to(classifier.device)
        loss_of = torch.nn.functional.binary_cross_entropy_with_logits
    else:
        targets = torch.tensor([labels.index(label) for label in data.labels], device=classifier.device)
        loss_of = torch.nn.functional.cross_entropy
    optimizer = torch.optim.AdamW(classifier.model.parameters(), lr=settings.learning_rate)
    encodings = classifier.tokenizer.encode_batch(list(data.texts))
    rng = np.random.default_rng(settings.seed)
    classifier.model.train()
    try:
        for _epoch in range(settings.epochs):
            order = rng.permutation(len(encodings))
            for start in range(0, len(order), settings.batch_size):
                rows = order[start : start + settings.batch_size].tolist()
                ids, mask, types = pad_batch([encodings[i] for i in rows], classifier.pad_id)
                loss = loss_of(classifier.forward(ids, mask, types), targets[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    finally:
        classifier.model.eval()
    classifier.model.save_pretrained(str(out), safe_serialization=True)
    for name in TOKENIZER_FILES:
        source = classifier.folder / name
        if source.is_file():
            shutil.copy2(source, out / name)
    return out


__all__ = ["HuggingFaceSource", "fine_tune_classifier", "labels_of", "open_huggingface"]
