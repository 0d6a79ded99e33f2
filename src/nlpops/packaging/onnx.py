"""ONNX text classifiers from another toolchain: ``model.onnx`` plus ``--labels labels.txt`` (one label per line,
in output order) and, for graphs over token ids, the ``tokenizer.json`` next to the graph.

Two shapes of graph are text classifiers nlpops can feed, read from the graph itself:

- one string input of shape (n, 1) (a scikit-learn pipeline converted by skl2onnx), with a (n, n_labels)
  float output or skl2onnx's ZipMap (one ``{class: probability}`` map per text);
- token inputs (``input_ids``, ``attention_mask``[, ``token_type_ids``], int64) with a (n, n_labels) float
  output (``logits``, say), tokenized with the ``tokenizer.json``.

Anything else is refused (an encoder's ``last_hidden_state`` is not class scores). Whether the scores are
already probabilities or logits is measured on the probe texts. The graph cannot be retrained.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.errors import PackageError, RuntimeLoadError
from nlpops.families.base import package_versions
from nlpops.packaging.probes import PROBE_TEXTS
from nlpops.packaging.source import SourceOptions, read_labels_file
from nlpops.runtimes.onnx import MODEL_FILE, activate, load_tokenizer, open_session, pad_batch
from nlpops.tasks import TaskName

TOKENIZER_FILE = "tokenizer.json"
LABELS_FILE = "labels.txt"
TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
DEFAULT_MAX_LENGTH = 512
_BATCH = 16


def _describe_io(items: Sequence[Any]) -> str:
    return ", ".join(f"{i.name} {i.type} {list(i.shape)}" for i in items) or "none"


def _pick_output(graph: Path, outputs: Sequence[Any], names: Sequence[str]) -> Any:
    """The output holding class scores: a rank-2 float tensor or a ZipMap, preferring the given names."""
    scores = [o for o in outputs if (o.type == "tensor(float)" and len(o.shape) == 2) or o.type.startswith("seq(map")]
    if not scores:
        raise PackageError(
            f'"{graph}" is not a text classifier: its outputs ({_describe_io(outputs)}) hold no class scores of shape '
            "(texts, labels) (an encoder's last_hidden_state is not one). Export the model with its classification "
            "head."
        )
    preferred = [o for o in scores if any(n in o.name.lower() for n in names)]
    return (preferred or scores)[0]


class OnnxSource:
    """An ONNX classifier graph; answers with onnxruntime's own outputs (softmax applied to logits)."""

    kind = "onnx"
    runtime = "onnx"
    task: TaskName = "classification"

    def __init__(self, graph: Path, origin: str, labels: list[str]) -> None:
        self.graph, self.origin, self.labels = graph, origin, labels
        self.languages: list[str] = []
        try:
            self.session = open_session(graph, 1)
        except RuntimeLoadError as exc:
            raise PackageError(f'"{graph}" is not a loadable ONNX graph: {exc}') from exc
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        self.tokenizer: Any = None
        if len(inputs) == 1 and inputs[0].type == "tensor(string)" and len(inputs[0].shape) == 2:
            self.family, self.token_graph = "tfidf", False
            self.output = _pick_output(graph, outputs, ("prob",))
        elif {i.name for i in inputs} <= set(TOKEN_INPUTS) and "input_ids" in {i.name for i in inputs}:
            if any(i.type != "tensor(int64)" for i in inputs):
                raise PackageError(f'"{graph}": token inputs must be int64 ({_describe_io(inputs)}). Re-export it.')
            self.family, self.token_graph = "transformer", True
            self.output = _pick_output(graph, outputs, ("logit", "prob", "score"))
            self._open_tokenizer(graph.parent / TOKENIZER_FILE)
        else:
            raise PackageError(
                f'"{graph}" does not look like a text classifier: its inputs are {_describe_io(inputs)}. nlpops feeds '
                "either one string tensor of shape (n, 1) or token ids (input_ids, attention_mask[, token_type_ids])."
            )
        self.input_names = [i.name for i in inputs]
        self.zipmap_keys = self._zipmap_keys() if self.output.type.startswith("seq(map") else None
        raw = self.scores(list(PROBE_TEXTS))
        if raw.shape[1] != len(labels):
            raise PackageError(
                f'"{graph}" returns {raw.shape[1]} scores per text in "{self.output.name}" but the labels file names '
                f"{len(labels)} labels. Give one label per output, in output order."
            )
        sums = raw.sum(axis=1)
        self.probabilities = bool(((raw >= 0) & (raw <= 1)).all() and np.allclose(sums, 1.0, atol=1e-4))
        self.requirements = package_versions("onnxruntime", "numpy", *(["tokenizers"] if self.token_graph else []))

    def _open_tokenizer(self, path: Path) -> None:
        if not path.is_file():
            raise PackageError(
                f'"{self.graph}" takes token ids, so it needs the tokenizer it was trained with: put its '
                f'tokenizer.json next to the graph ("{path}").'
            )
        try:
            from tokenizers import Tokenizer

            raw = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception on a bad file
            raise PackageError(f'"{path}" is not a readable tokenizer.json ({exc}).') from exc
        self.max_length = int((raw.truncation or {}).get("max_length") or DEFAULT_MAX_LENGTH)
        pads = [(raw.padding or {}).get("pad_id"), raw.token_to_id("[PAD]"), raw.token_to_id("<pad>")]
        self.pad_id = int(next((p for p in pads if p is not None), 0))
        self.tokenizer = load_tokenizer(path, self.max_length)

    def _zipmap_keys(self) -> list[Any]:
        (maps,) = self.session.run([self.output.name], {self.input_names[0]: np.array([["probe"]], dtype=object)})
        keys = list(maps[0])
        if all(isinstance(k, str) for k in keys):
            if set(keys) != set(self.labels):
                raise PackageError(
                    f'"{self.graph}" names its classes {sorted(keys)[:5]}, which are not the labels file\'s '
                    f"{self.labels[:5]}. Give the graph's class names, in any order."
                )
            return list(self.labels)
        ordered = sorted(int(k) for k in keys)
        if ordered != list(range(len(self.labels))):
            raise PackageError(
                f'"{self.graph}" has classes {ordered[:5]}...; the labels file must name classes 0..{len(ordered) - 1} '
                "in order."
            )
        return ordered

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """onnxruntime's raw class scores (n, n_labels), the graph fed all texts in order."""
        if not self.token_graph:
            feed = {self.input_names[0]: np.asarray(list(texts), dtype=object).reshape(-1, 1)}
            (raw,) = self.session.run([self.output.name], feed)
            if self.zipmap_keys is not None:
                raw = [[row[key] for key in self.zipmap_keys] for row in raw]
            return np.asarray(raw, dtype=np.float64).reshape(len(texts), -1)
        rows = []
        for start in range(0, len(texts), _BATCH):
            encodings = self.tokenizer.encode_batch(list(texts[start : start + _BATCH]))
            ids, mask, types = pad_batch(encodings, self.pad_id)
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            (raw,) = self.session.run([self.output.name], {k: v for k, v in feed.items() if k in self.input_names})
            rows.append(np.asarray(raw, dtype=np.float64))
        return np.concatenate(rows) if rows else np.zeros((0, len(self.labels)))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return activate(self.scores(texts), "probabilities" if self.probabilities else "softmax")

    @property
    def runtime_options(self) -> dict[str, Any]:
        if not self.token_graph:
            options: dict[str, Any] = {"kind": "sklearn", "model_file": MODEL_FILE, "output": self.output.name}
            options["margins"] = not self.probabilities
            if self.zipmap_keys is not None:
                options["zipmap_keys"] = self.zipmap_keys
            return options
        return {
            "kind": "classifier",
            "model_file": MODEL_FILE,
            "tokenizer": TOKENIZER_FILE,
            "output": self.output.name,
            "activation": "probabilities" if self.probabilities else "softmax",
            "max_length": self.max_length,
            "pad_id": self.pad_id,
            "batch_size": 32,
        }

    def save(self, directory: Path) -> None:
        shutil.copy2(self.graph, directory / MODEL_FILE)
        if self.token_graph:
            shutil.copy2(self.graph.parent / TOKENIZER_FILE, directory / TOKENIZER_FILE)

    def describe(self) -> dict[str, Any]:
        return {
            "graph": self.graph.name,
            "inputs": self.input_names,
            "output": self.output.name,
            "scores": "probabilities" if self.probabilities else "logits",
        }


def open_onnx(source: str, options: SourceOptions) -> OnnxSource:
    """Open an ONNX graph (a ``.onnx`` file, or a folder holding ``model.onnx``) with its labels.

    Raises:
        PackageError: no labels file, a graph that does not look like a text classifier, labels that do not fit.
    """
    path = Path(source).expanduser()
    graph = path / MODEL_FILE if path.is_dir() else path
    labels_file = options.labels_file or (graph.parent / LABELS_FILE)
    if not labels_file.is_file():
        raise PackageError(
            f'"{graph}" holds no class names: pass --labels labels.txt (one label per line, in the order of the '
            "graph's outputs)."
        )
    return OnnxSource(graph, source, read_labels_file(labels_file))


__all__ = ["OnnxSource", "open_onnx"]
