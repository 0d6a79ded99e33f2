"""Package a model a team already has: detect what it is, stage the bundle, check parity, write it.

``package_model(source, out, name=...)`` opens the source with its own library (one adapter per kind),
writes the runtime's files into a staging folder, loads them as a bundle, and compares that bundle's answers
with the source library's on the reference texts (or the built-in probe texts), by task
(:mod:`nlpops.packaging.parity`): a classifier's probabilities within ``PARITY_ATOL``, an entity model's
spans equal (scores within ``PARITY_ATOL``), else nothing is written. With reference
data the bundle records reference statistics for drift and reference texts for export parity; with a
test set, metrics computed by nlpops. The manifest's ``package`` entry says where the model came from,
the parity measured, and what is missing.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from nlpops._version import __version__
from nlpops.bundle import Bundle, new_version, save_bundle
from nlpops.data import Dataset, fingerprint
from nlpops.errors import BundleError, DataError, PackageError
from nlpops.families import REFERENCE_TEXTS
from nlpops.metrics import task_report
from nlpops.packaging.parity import PARITY_ATOL, check_parity
from nlpops.packaging.probes import PROBE_TEXTS
from nlpops.packaging.source import SOURCE_THRESHOLD, Source, SourceOptions
from nlpops.reference import reference_statistics
from nlpops.runtimes import BasePredictor, Predictor, load_predictor, predict_output

REFERENCE_ROWS = 1000  # reference rows predicted for the drift baseline (evenly spaced when there are more)
# source kind -> "module:function" opening it; imported only when a source of that kind is packaged.
SOURCE_KINDS: dict[str, str] = {
    "huggingface": "nlpops.packaging.huggingface:open_huggingface",
    "spacy": "nlpops.packaging.spacy:open_spacy",
    "skops": "nlpops.packaging.sklearn:open_skops",
    "pickle": "nlpops.packaging.sklearn:open_pickle",
    "onnx": "nlpops.packaging.onnx:open_onnx",
}
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
NO_REFERENCE = (
    "packaged without --data: no reference statistics, so drift cannot be measured; parity was checked on the "
    "built-in probe texts"
)


@dataclass(frozen=True)
class PackageReport:
    """The written bundle, the source it came from, and the parity measured before writing it."""

    bundle: Bundle
    kind: str
    parity_texts: int
    max_abs_diff: float
    seconds: float


def detect_kind(source: str | Path) -> str:
    """Which adapter opens ``source``: a folder's marker files, a file's suffix, or an installed spaCy package.

    Raises:
        PackageError: ``source`` does not exist or is none of the known kinds.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        if (path / "config.cfg").is_file() and (path / "meta.json").is_file():
            return "spacy"
        if (path / "config.json").is_file():
            return "huggingface"
        if (path / "model.onnx").is_file():
            return "onnx"
        raise PackageError(
            f'Cannot tell what the folder "{path}" holds: it has no config.json (a Hugging Face model), no '
            "config.cfg + meta.json (a spaCy pipeline) and no model.onnx. Give the model's own folder or file."
        )
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".skops":
            return "skops"
        if suffix in PICKLE_SUFFIXES:
            return "pickle"
        if suffix == ".onnx":
            return "onnx"
        raise PackageError(
            f'Cannot tell what "{path}" is from its suffix "{suffix}". nlpops packages a Hugging Face folder, a '
            "spaCy pipeline (folder or package name), a .skops file, a .pkl/.joblib file (with --unsafe-pickle) "
            "or a .onnx file."
        )
    if str(source).isidentifier() and _is_spacy_package(str(source)):
        return "spacy"
    raise PackageError(
        f'"{source}" does not exist: it is neither a file, a folder nor an installed spaCy pipeline package. '
        "Check the path (or pip install the pipeline package)."
    )


def _is_spacy_package(name: str) -> bool:
    try:
        import spacy
    except ImportError:
        return False
    return bool(spacy.util.is_package(name))


def open_source(source: str | Path, options: SourceOptions | None = None) -> Source:
    """Open ``source`` with the adapter of its kind.

    Raises:
        PackageError: unknown kind, or the adapter refuses the model (one line naming the file).
        MissingExtraError: the library that reads this kind is not installed.
    """
    kind = detect_kind(source)
    options = options or SourceOptions()
    misplaced = [
        flag
        for flag, given, kinds in (
            ("--labels", options.labels_file is not None, ("onnx", "skops", "pickle")),
            ("--component", options.component is not None, ("spacy",)),
            ("--trust", bool(options.trust), ("skops", "pickle")),
            ("--unsafe-pickle", options.unsafe_pickle, ("pickle",)),
        )
        if given and kind not in kinds
    ]
    if misplaced:
        raise PackageError(f'{misplaced[0]} does not apply to "{source}", which is a {kind} model. Leave it out.')
    module_name, func_name = SOURCE_KINDS[kind].split(":")
    opener: Callable[[str, SourceOptions], Source] = getattr(importlib.import_module(module_name), func_name)
    return opener(str(source), options)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _copier(staging: Path) -> Callable[[Path], None]:
    def write(directory: Path) -> None:
        shutil.copytree(staging, directory, dirs_exist_ok=True, copy_function=_link_or_copy)

    return write


def _sample(data: Dataset, rows: int) -> Dataset:
    if len(data) <= rows:
        return data
    return data.subset(np.linspace(0, len(data) - 1, rows).round().astype(int).tolist())


def _metrics(candidate: Predictor, test: Dataset) -> dict[str, Any]:
    if test.task != candidate.task:
        raise DataError(
            f'"{test.source}" is {test.task} data; the packaged model is a {candidate.task} model. Give --test data '
            f"labelled for {candidate.task} (the formats: docs/tasks.md)."
        )
    labels = list(candidate.labels)
    unknown = sorted(set(test.label_names()) - set(labels))
    if unknown and candidate.task != "entities":  # an entity type the model lacks is a miss, scored per type
        raise DataError(
            f'"{test.source}" has labels the model does not know: {", ".join(unknown[:5])}. The model\'s labels: '
            f"{', '.join(labels[:10])}{' ...' if len(labels) > 10 else ''}. Fix the test set's label column."
        )
    output = predict_output(candidate, test.texts)
    metrics = task_report(
        candidate.task, test.answers, output, labels, thresholds=candidate.thresholds, langs=test.langs
    )
    metrics["test_fingerprint"] = fingerprint(test)["sha256"]
    return metrics


def package_source(
    source: Source,
    out: Path | str,
    *,
    name: str,
    data: Dataset | None = None,
    test: Dataset | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    extra: dict[str, Any] | None = None,
) -> PackageReport:
    """Write an opened source as a bundle at ``out`` after the parity check (see the module docstring).

    Args:
        source: an opened model (:func:`open_source`).
        out: the bundle directory.
        name: the model name recorded in the manifest.
        data: reference texts (labels not needed): drift baseline, export parity texts, parity texts.
        test: labelled data: metrics computed by nlpops.
        overwrite: replace an existing bundle at ``out``.
        progress: receives short progress messages.
        extra: more facts for the manifest's ``package`` entry (e.g. what a retrain started from).

    Raises:
        PackageError: parity fails. DataError: the test set has unknown labels. BundleError: ``out`` exists.
    """
    step = progress or (lambda _msg: None)
    started = time.perf_counter()
    out = Path(out)
    sample = _sample(data, REFERENCE_ROWS) if data is not None and len(data) else None
    texts = list(sample.texts[:REFERENCE_TEXTS]) if sample is not None else list(PROBE_TEXTS)
    parity_texts = texts + list(PROBE_TEXTS) if sample is not None else texts
    with tempfile.TemporaryDirectory(prefix=".nlpops-package-", dir=out.parent if out.parent.exists() else None) as tmp:
        staging = Path(tmp) / "files"
        staging.mkdir()
        step(f"writing the {source.runtime} runtime's files")
        source.save(staging)
        thresholds = [SOURCE_THRESHOLD] * len(source.labels) if source.task == "multilabel" else None
        fields: dict[str, Any] = {
            "name": name,
            "version": new_version(),
            "family": source.family,
            "runtime": source.runtime,
            "task": source.task,
            "labels": source.labels,
            "thresholds": dict(zip(source.labels, thresholds, strict=True)) if thresholds else {},
            "languages": sorted(set(data.langs)) if data is not None and data.langs else source.languages,
            "preprocessing": [],  # the source model saw raw text: nlpops changes nothing before it
            "reference": {"texts": texts},
            "requirements": source.requirements,
            "runtime_options": source.runtime_options,
            "nlpops_version": __version__,
        }
        candidate_bundle = save_bundle(Path(tmp) / "candidate", fields, _copier(staging))
        candidate = load_predictor(candidate_bundle)
        on = "reference and probe" if sample is not None else "probe"
        step(f"checking parity with the source library on {len(parity_texts)} {on} texts")
        worst = check_parity(source, candidate, parity_texts)
        if sample is not None:
            step(f"computing reference statistics on {len(sample)} rows")
            words = candidate.vocabulary() if isinstance(candidate, BasePredictor) else None
            vocabulary = set(words) if words else None
            output = predict_output(candidate, sample.texts)
            reference = reference_statistics(
                sample.texts, output, source.labels, sample.langs, vocabulary, task=source.task, thresholds=thresholds
            )
            fields["reference"] = {**reference, "texts": texts}
        if test is not None and len(test):
            step(f"evaluating on {len(test)} rows")
            fields["metrics"] = _metrics(candidate, test)
        fields["package"] = {
            "source": {"kind": source.kind, "origin": source.origin, **source.describe()},
            "parity": {"texts": len(parity_texts), "on": on, "atol": PARITY_ATOL, "max_abs_diff": worst},
            "reference_data": None if data is None else {**fingerprint(data), "source": data.source},
            "notes": [] if sample is not None else [NO_REFERENCE],
            **(
                {"thresholds": f"{SOURCE_THRESHOLD} for every label: the source library's own rule"}
                if thresholds
                else {}
            ),
            "nlpops_version": __version__,
            **(extra or {}),
        }
        step(f"writing {out}")
        bundle = save_bundle(out, fields, _copier(staging), overwrite=overwrite)
    return PackageReport(bundle, source.kind, len(parity_texts), worst, time.perf_counter() - started)


def package_model(
    source: str | Path,
    out: Path | str,
    *,
    name: str,
    options: SourceOptions | None = None,
    data: Dataset | None = None,
    test: Dataset | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> PackageReport:
    """Open ``source`` (a Hugging Face folder, a spaCy pipeline, a .skops / pickle file, an ONNX graph) and
    write it as a verified bundle at ``out`` (see :func:`package_source`).

    Raises:
        PackageError: the source is refused or parity fails. MissingExtraError: its library is missing.
        BundleError: ``out`` exists and is not empty (checked before the source is opened).
    """
    step = progress or (lambda _msg: None)
    started = time.perf_counter()
    target = Path(out)
    if target.exists() and not overwrite and (not target.is_dir() or any(target.iterdir())):
        raise BundleError(f'"{target}" already exists and is not empty. Choose another --out, or pass --overwrite.')
    step(f"opening {source}")
    opened = open_source(source, options)
    result = package_source(opened, out, name=name, data=data, test=test, overwrite=overwrite, progress=progress)
    return replace(result, seconds=time.perf_counter() - started)


__all__ = [
    "NO_REFERENCE",
    "PARITY_ATOL",
    "SOURCE_KINDS",
    "PackageReport",
    "check_parity",
    "detect_kind",
    "open_source",
    "package_model",
    "package_source",
]
