"""Hugging Face sequence and token classifiers: a folder written by ``save_pretrained`` (``config.json`` with
``id2label``, ``model.safetensors`` or ``pytorch_model.bin``, a fast tokenizer's ``tokenizer.json``).

The bundle holds the whole model, head included, under ``model/`` as safetensors (a ``pytorch_model.bin`` is
read once with transformers' safe loader and converted: a bundle never holds a pickle); the torch runtime
serves it, ``nlpops export`` turns it into one ONNX graph. A sequence classifier's labels come from
``id2label``. A token classifier (``*ForTokenClassification``) is an ``entities`` model: its tags (``B-PER``,
``I-PER``, ``O``...) in id order go to the runtime options, its labels are the entity types they name, and it
answers spans as transformers' ``pipeline("token-classification", aggregation_strategy="simple")`` does.
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
from nlpops.runtimes.token_classifier import MODEL_DIR, token_classifier_options
from nlpops.runtimes.token_spans import entity_types
from nlpops.runtimes.torch import CLASSIFIER_DIR, TOKENIZER_FILE, classifier_options, import_torch, load_classifier
from nlpops.tasks import Span, Spans, TaskName

CONFIG_FILE = "config.json"
TOKENIZER_FILES = (TOKENIZER_FILE, "tokenizer_config.json", "special_tokens_map.json")
SAFETENSORS = ("model.safetensors", "model.safetensors.index.json")
PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
SLOW_TOKENIZER_FILES = ("vocab.txt", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model", "vocab.json")
TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
HEADS = ("ForSequenceClassification", "ForTokenClassification")
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


def tags_of(folder: Path, config: dict[str, Any]) -> list[str]:
    """A token classifier's tags from ``id2label``, in id order (the checks of :func:`labels_of`)."""
    return labels_of(folder, {k: v for k, v in config.items() if k != "problem_type"})


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
    if architectures and not any(a.endswith(HEADS) for a in architectures):
        raise PackageError(
            f'"{path}" names the architecture {", ".join(architectures)}, neither a sequence nor a token classifier. '
            "Fine-tune it with AutoModelForSequenceClassification (or AutoModelForTokenClassification for entities) "
            "and save_pretrained, then package that folder."
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


def is_token_classifier(config: dict[str, Any]) -> bool:
    """Whether the config names a token-classification architecture (an entity model)."""
    return any(str(a).endswith("ForTokenClassification") for a in config.get("architectures") or [])


def write_model(folder: Path, model: Any, target: Path) -> None:
    """The model's config, safetensors weights (copied; a ``pytorch_model.bin`` is converted) and tokenizer files
    into ``target``."""
    target.mkdir(parents=True)
    if any((folder / f).is_file() for f in SAFETENSORS):
        shutil.copy2(folder / CONFIG_FILE, target / CONFIG_FILE)
        index = folder / SAFETENSORS[1]
        weights = [SAFETENSORS[0]] if (folder / SAFETENSORS[0]).is_file() else [index.name]
        if index.is_file():
            weights += sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        for name in weights:
            shutil.copy2(folder / name, target / name)
    else:  # pytorch_model.bin: converted once (loaded with transformers' weights-only loader)
        model.save_pretrained(str(target), safe_serialization=True)
        for extra in target.iterdir():
            if extra.name != CONFIG_FILE and not extra.name.endswith((".safetensors", ".safetensors.index.json")):
                extra.unlink()
    for name in TOKENIZER_FILES:
        if (folder / name).is_file():
            shutil.copy2(folder / name, target / name)


class _Loaded:
    """A model folder opened with transformers: the model (eval mode), its fast tokenizer, and what the runtime
    needs to feed it (``max_length``, the inputs the model takes, the padding id)."""

    def __init__(self, folder: Path, config: dict[str, Any], auto_class: str) -> None:
        torch, transformers = import_torch()
        transformers.utils.logging.disable_progress_bar()
        try:
            model, info = getattr(transformers, auto_class).from_pretrained(
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
        self.model, self.torch, self.transformers = model.eval(), torch, transformers
        limit = int(self.tokenizer.model_max_length)
        self.max_length = min(limit if 0 < limit <= 100_000 else 512, int(config.get("max_position_embeddings", 512)))
        accepted = set(inspect.signature(self.model.forward).parameters)
        self.inputs = [n for n in self.tokenizer.model_input_names if n in TOKEN_INPUTS and n in accepted]
        if "input_ids" not in self.inputs:
            raise PackageError(f'The tokenizer of "{folder}" does not produce input_ids. Package a text model.')
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else config.get("pad_token_id")
        self.pad_id = int(pad or 0)


class HuggingFaceSource:
    """A sequence classifier opened with transformers; answers with softmax over its logits, or a sigmoid per
    label for a multi-label model (``problem_type: multi_label_classification``), as transformers' pipeline does."""

    kind = "huggingface"
    family = "transformer"
    runtime = "torch"

    def __init__(self, folder: Path, origin: str, config: dict[str, Any], labels: list[str]) -> None:
        self.folder, self.origin, self.config, self.labels = folder, origin, config, labels
        self.task: TaskName = task_of(config)
        self.activation = "sigmoid" if self.task == "multilabel" else "softmax"
        self.languages: list[str] = []
        loaded = _Loaded(folder, config, "AutoModelForSequenceClassification")
        self.model, self.tokenizer, self._torch = loaded.model, loaded.tokenizer, loaded.torch
        self.max_length, self.inputs, self.pad_id = loaded.max_length, loaded.inputs, loaded.pad_id
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
        write_model(self.folder, self.model, directory / CLASSIFIER_DIR)

    def describe(self) -> dict[str, Any]:
        weights = "safetensors" if any((self.folder / f).is_file() for f in SAFETENSORS) else "pytorch_model.bin"
        return {
            "architecture": type(self.model).__name__,
            "model_type": self.config.get("model_type"),
            "weights": weights if weights == "safetensors" else "pytorch_model.bin, converted to safetensors",
            "max_length": self.max_length,
            "problem_type": self.config.get("problem_type") or "single_label_classification",
        }


class TokenClassifierSource:
    """A token classifier opened with transformers; answers with transformers' own
    ``pipeline("token-classification", aggregation_strategy="simple")``, text by text."""

    kind = "huggingface"
    family = "transformer"
    runtime = "torch"
    task: TaskName = "entities"

    def __init__(self, folder: Path, origin: str, config: dict[str, Any], tags: list[str]) -> None:
        self.folder, self.origin, self.config, self.tags = folder, origin, config, tags
        self.labels = entity_types(tags)
        if not self.labels:
            raise PackageError(
                f'"{folder / CONFIG_FILE}": the tags in id2label ({", ".join(tags[:6])}) name no entity type. A token '
                "classifier for entities has tags like B-PER, I-PER, O."
            )
        self.languages: list[str] = []
        loaded = _Loaded(folder, config, "AutoModelForTokenClassification")
        self.model, self.tokenizer, self.max_length = loaded.model, loaded.tokenizer, loaded.max_length
        self.pipeline = loaded.transformers.pipeline(
            "token-classification", model=self.model, tokenizer=self.tokenizer, aggregation_strategy="simple"
        )
        self.requirements = package_versions("torch", "transformers", "tokenizers", "safetensors", "numpy")
        self.runtime_options = token_classifier_options(
            tags=tags, max_length=self.max_length, inputs=loaded.inputs, pad_id=loaded.pad_id
        )

    def predict_entities(self, texts: Sequence[str]) -> Spans:
        """transformers' own answer: its token-classification pipeline with simple aggregation."""
        return [
            [Span(int(e["start"]), int(e["end"]), str(e["entity_group"]), float(e["score"])) for e in self.pipeline(t)]
            for t in texts
        ]

    def save(self, directory: Path) -> None:
        write_model(self.folder, self.model, directory / MODEL_DIR)

    def describe(self) -> dict[str, Any]:
        return {
            "architecture": type(self.model).__name__,
            "model_type": self.config.get("model_type"),
            "tags": self.tags,
            "aggregation": "simple",
            "max_length": self.max_length,
        }


def open_huggingface(source: str, options: SourceOptions) -> HuggingFaceSource | TokenClassifierSource:
    """Open a Hugging Face sequence- or token-classifier folder (every refusal names the file and what to do).

    Raises:
        PackageError: see :func:`labels_of` and the folder checks. MissingExtraError: torch/transformers missing.
    """
    folder = Path(source).expanduser()
    config = _read_config(folder)
    _check_folder(folder, config)
    if is_token_classifier(config):
        return TokenClassifierSource(folder, source, config, tags_of(folder, config))
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


__all__ = [
    "HuggingFaceSource",
    "TokenClassifierSource",
    "fine_tune_classifier",
    "is_token_classifier",
    "labels_of",
    "open_huggingface",
    "tags_of",
]
