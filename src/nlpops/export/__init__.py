"""Export a bundle to the slim ``onnx`` runtime: convert, optionally quantize to int8, check parity, save.

``export_bundle(source, out)`` writes a new bundle with runtime ``onnx`` and the same labels,
preprocessing, metrics and reference statistics. Before writing it, the exported model predicts the
source bundle's reference texts (``manifest.reference["texts"]``) and the export is refused when the
predictions (the best label; a multi-label model's labels above their thresholds; an embedding model's
vector, within a cosine of :data:`EMBEDDING_MIN_COSINE`) disagree on more than ``max_disagreement`` of
them (``force=True`` writes it anyway). The
manifest records the measured agreement under ``export``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from nlpops.bundle import Bundle, load_bundle, new_version, save_bundle
from nlpops.errors import ExportError
from nlpops.families.base import package_versions
from nlpops.runtimes import load_predictor, predict_output
from nlpops.runtimes.onnx import MODEL_FILE, WORDS_FILE
from nlpops.tasks import Spans, TaskName, TaskOutput, label_decisions

Quantization = Literal["none", "int8"]
MAX_DISAGREEMENT = 0.005
# BERT-like encoders (and whole classifiers over them): the projections whose int8 error flips the most labels
# stay float32 (the feed-forward layers and the attention output); query/key/value are quantized. Measured on
# MiniLM + banking77: labels agree with fp32 on 99.7% of test texts (98.6% when everything is quantized), 1.3x
# faster on one core.
ENCODER_KEEP_FLOAT = ("intermediate", "/output/dense")
EMBEDDING_MIN_COSINE = 0.99
"""An exported embedding model's vector agrees with its source's when their cosine similarity reaches this (float32
ONNX graphs agree within about 1e-7; int8 ones lose a little more)."""


@dataclass(frozen=True)
class ParityReport:
    """How closely the exported model agrees with its source on the reference texts."""

    texts: int
    agreement: float
    max_abs_proba_diff: float
    min_cosine: float | None = None  # embedding models: the lowest cosine similarity of a text's two vectors

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "texts": self.texts,
            "agreement": self.agreement,
            "max_abs_proba_diff": self.max_abs_proba_diff,
        }
        if self.min_cosine is not None:
            out["min_cosine"] = self.min_cosine
        return out


@dataclass(frozen=True)
class ExportResult:
    """The written bundle and the parity measured before writing it."""

    bundle: Bundle
    source: Bundle
    parity: ParityReport


def measure_parity(
    source_proba: TaskOutput,
    exported_proba: TaskOutput,
    *,
    task: TaskName = "classification",
    thresholds: Sequence[float] | None = None,
) -> ParityReport:
    """How often the exported model's predictions agree with its source's, and the largest score difference.

    The export layer's per-task piece is :data:`PARITY`: classification compares the best label of each text;
    multilabel the set of labels reaching their thresholds (a text agrees when every label's decision does);
    entities the spans of each text (a text agrees when every span's start, end and type do; the score difference
    is measured over the agreeing spans).
    embedding the two vectors of each text (they agree when their cosine reaches :data:`EMBEDDING_MIN_COSINE`).

    Raises:
        ExportError: the two answers have different shapes, or nlpops cannot compare this task's answers.
    """
    compare = PARITY.get(task)
    if compare is None:
        raise ExportError(f"nlpops cannot check the ONNX parity of {task} models yet.")
    return compare(source_proba, exported_proba, thresholds)


def _same_shape(source: np.ndarray, exported: np.ndarray) -> None:
    if source.shape != exported.shape:
        raise ExportError(
            f"The exported model returns shape {exported.shape}, the source {source.shape}. "
            "This is a bug in the exporter; please report it."
        )


def _classification_parity(
    source: TaskOutput, exported: TaskOutput, thresholds: Sequence[float] | None
) -> ParityReport:
    a, b = np.asarray(source), np.asarray(exported)
    _same_shape(a, b)
    if len(a) == 0:
        return ParityReport(0, 1.0, 0.0)
    agree = float((a.argmax(axis=1) == b.argmax(axis=1)).mean())
    return ParityReport(len(a), agree, float(np.abs(a - b).max()))


def _multilabel_parity(source: TaskOutput, exported: TaskOutput, thresholds: Sequence[float] | None) -> ParityReport:
    a, b = np.asarray(source), np.asarray(exported)
    _same_shape(a, b)
    if len(a) == 0:
        return ParityReport(0, 1.0, 0.0)
    if thresholds is None:
        raise ExportError("A multilabel bundle without thresholds cannot be checked. Rebuild it with this nlpops.")
    same = (label_decisions(a, thresholds) == label_decisions(b, thresholds)).all(axis=1)
    return ParityReport(len(a), float(same.mean()), float(np.abs(a - b).max()))


def _entities_parity(source: TaskOutput, exported: TaskOutput, thresholds: Sequence[float] | None) -> ParityReport:
    a: Spans = source  # type: ignore[assignment]
    b: Spans = exported  # type: ignore[assignment]
    if len(a) != len(b):
        raise ExportError(f"The exported model answers {len(b)} texts, the source {len(a)}. Please report this.")
    if not a:
        return ParityReport(0, 1.0, 0.0)
    same = [
        [(s.start, s.end, s.label) for s in x] == [(s.start, s.end, s.label) for s in y]
        for x, y in zip(a, b, strict=True)
    ]
    diffs = [
        abs(s.score - t.score) for x, y, ok in zip(a, b, same, strict=True) if ok for s, t in zip(x, y, strict=True)
    ]
    return ParityReport(len(a), sum(same) / len(a), max(diffs, default=0.0))


def _embedding_parity(source: TaskOutput, exported: TaskOutput, thresholds: Sequence[float] | None) -> ParityReport:
    a, b = np.asarray(source, dtype=np.float64), np.asarray(exported, dtype=np.float64)
    _same_shape(a, b)
    if len(a) == 0:
        return ParityReport(0, 1.0, 0.0, 1.0)
    norms = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    cosine = (a * b).sum(axis=1) / norms
    agree = float((cosine >= EMBEDDING_MIN_COSINE).mean())
    return ParityReport(len(a), agree, float(np.abs(a - b).max()), float(cosine.min()))


PARITY: dict[TaskName, Callable[[TaskOutput, TaskOutput, Sequence[float] | None], ParityReport]] = {
    "classification": _classification_parity,
    "multilabel": _multilabel_parity,
    "entities": _entities_parity,
    "embedding": _embedding_parity,
}
"""The export layer's per-task piece: how an exported model's answers are compared with its source's."""


def _copier(staging: Path) -> Callable[[Path], None]:
    """A ``write_files`` callback for :func:`save_bundle` that copies the converted files."""

    def write(directory: Path) -> None:
        shutil.copytree(staging, directory, dirs_exist_ok=True)

    return write


def _convert(source: Bundle, staging: Path, quantize: Quantization) -> dict[str, Any]:
    """Write the ONNX files of ``source`` into ``staging``; return the runtime options."""
    runtime = source.manifest.runtime
    if runtime == "sklearn":
        from nlpops.export.sklearn import convert_pipeline
        from nlpops.runtimes.sklearn import load_pipeline, word_vocabulary

        trusted = [str(t) for t in source.manifest.runtime_options.get("trusted_types", [])]
        pipeline = load_pipeline(source.path, trusted)
        options = convert_pipeline(pipeline, staging / MODEL_FILE)
        words = word_vocabulary(pipeline)
        if words:  # the graph holds the vocabulary but cannot list it: kept apart for out-of-vocabulary counts
            (staging / WORDS_FILE).write_text(json.dumps(sorted(words), ensure_ascii=False), encoding="utf-8")
            options["vocabulary_file"] = WORDS_FILE
    elif runtime == "torch" and source.manifest.runtime_options.get("kind") == "token_classifier":
        from nlpops.export.token_classifier import convert_token_classifier_bundle

        options = convert_token_classifier_bundle(source, staging)
    elif runtime == "torch" and source.manifest.runtime_options.get("kind") == "classifier":
        from nlpops.export.classifier import convert_classifier_bundle

        options = convert_classifier_bundle(source, staging)
    elif runtime == "torch":
        from nlpops.export.encoder import convert_encoder_bundle

        options = convert_encoder_bundle(source, staging)
    elif runtime == "onnx":
        for name in source.manifest.files:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source.path / name, staging / name)
        options = dict(source.manifest.runtime_options)
        if quantize == "none":
            raise ExportError(f'Bundle "{source.path}" is already ONNX. Add --quantize int8, or use it as it is.')
        if options.get("quantized"):
            raise ExportError(f'Bundle "{source.path}" is already quantized ({options["quantized"]}).')
    else:
        raise ExportError(
            f'Bundle "{source.path}" has runtime "{runtime}", which has no ONNX export '
            "(spaCy pipelines have no ONNX converter). Serve it with its own runtime."
        )
    if quantize == "int8":
        from nlpops.export.quantize import quantize_int8

        keep_float = ENCODER_KEEP_FLOAT if options.get("kind") in ("encoder", "classifier", "token_classifier") else ()
        quantize_int8(staging / str(options.get("model_file", MODEL_FILE)), keep_float)
        options["quantized"] = "int8"
    return options


def export_bundle(
    source: Bundle | Path | str,
    out: Path | str,
    *,
    quantize: Quantization = "none",
    force: bool = False,
    max_disagreement: float = MAX_DISAGREEMENT,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export ``source`` to a new ONNX bundle at ``out`` after a parity check on its reference texts.

    Args:
        source: a bundle (runtime ``sklearn``, ``torch``, or ``onnx`` when only quantizing).
        out: directory of the new bundle.
        quantize: ``"int8"`` for onnxruntime dynamic int8 quantization.
        force: write the bundle even when parity fails (the manifest still records the agreement).
        max_disagreement: largest share of reference texts whose labels may differ.
        overwrite: replace an existing bundle at ``out``.
        progress: called with a short message before each step.

    Returns:
        the written bundle, its source and the parity measured.

    Raises:
        ExportError: the model cannot be converted, or parity fails without ``force``.
        MissingExtraError: the export extra (skl2onnx, onnx) or the source runtime is not installed.
        BundleError: ``source`` is not a valid bundle or ``out`` exists.
    """
    step = progress or (lambda _msg: None)
    source = source if isinstance(source, Bundle) else load_bundle(source)
    out = Path(out)
    if out.resolve() == source.path.resolve():
        raise ExportError(f'--out "{out}" is the source bundle itself. Choose another directory.')
    manifest = source.manifest
    texts = [str(t) for t in manifest.reference.get("texts", [])]
    with tempfile.TemporaryDirectory(prefix=".nlpops-export-", dir=out.parent if out.parent.exists() else None) as tmp:
        staging = Path(tmp) / "files"
        staging.mkdir()
        step(f"converting {manifest.runtime} model to ONNX" + (" (int8)" if quantize == "int8" else ""))
        options = _convert(source, staging, quantize)
        requirements = package_versions("onnxruntime", "numpy")
        if options.get("kind") in ("encoder", "classifier", "token_classifier"):
            requirements += package_versions("tokenizers")
        fields: dict[str, Any] = {
            **manifest.model_dump(mode="json", exclude={"files", "created_at", "schema_version"}),
            "version": new_version(),
            "runtime": "onnx",
            "requirements": requirements,
            "runtime_options": options,
            "export": {"source_version": manifest.version, "source_runtime": manifest.runtime, "quantize": quantize},
        }
        candidate = save_bundle(Path(tmp) / "candidate", fields, _copier(staging))
        step(f"checking parity on {len(texts)} reference texts")
        source_model = load_predictor(source)
        parity = measure_parity(
            predict_output(source_model, texts),
            predict_output(load_predictor(candidate), texts),
            task=manifest.task,
            thresholds=source_model.thresholds,
        )
        fields["export"] = {**fields["export"], "parity": parity.as_dict(), "forced": False}
        if parity.agreement < 1.0 - max_disagreement:
            message = (
                f"Parity check failed: the exported model agrees with the source on {parity.agreement:.2%} of "
                f"{parity.texts} reference texts (needs >= {1 - max_disagreement:.2%})."
            )
            if not force:
                raise ExportError(message + " Nothing was written. Use --force to write it anyway.")
            step(message + " Writing it anyway (--force).")
            fields["export"]["forced"] = True
        step(f"writing {out}")
        bundle = save_bundle(out, fields, _copier(staging), overwrite=overwrite)
    return ExportResult(bundle=bundle, source=source, parity=parity)


__all__ = [
    "EMBEDDING_MIN_COSINE",
    "ENCODER_KEEP_FLOAT",
    "MAX_DISAGREEMENT",
    "PARITY",
    "ExportResult",
    "ParityReport",
    "Quantization",
    "export_bundle",
    "measure_parity",
]
