"""The Python API: ``load``, ``train``, ``package`` and ``evaluate``, the library counterparts of the CLI verbs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpops.bundle import Bundle, load_bundle
from nlpops.checklist import NlpopsConfig, load_config
from nlpops.data import Dataset, read_dataset, split_dataset
from nlpops.families import build_bundle
from nlpops.languages import train_by_language
from nlpops.metrics import classification_report
from nlpops.packaging import PackageReport, SourceOptions, package_model
from nlpops.packaging.source import warn_loudly
from nlpops.registry import ModelVersion, check_model_name, open_registry
from nlpops.registry.refs import resolve_ref
from nlpops.runtimes import Predictor, load_predictor


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced: the bundle on disk and, when registered, its registry entry."""

    bundle: Bundle
    registered: ModelVersion | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        return self.bundle.manifest.metrics


def _config(config: NlpopsConfig | str | Path | None) -> NlpopsConfig:
    if isinstance(config, NlpopsConfig):
        return config
    return load_config(config)


def resolve_bundle(ref: str | Path, config: NlpopsConfig | None = None) -> tuple[Path, ModelVersion | None]:
    """The bundle directory a model reference points to (a path, ``NAME@ALIAS`` or ``NAME:VERSION``)."""
    config = config or load_config()
    return resolve_ref(str(ref), open_registry(config.registry))


def load(ref: str | Path, *, config: NlpopsConfig | str | Path | None = None) -> Predictor:
    """Load a model as a Predictor from a bundle path, ``NAME@ALIAS`` or ``NAME:VERSION``.

    Raises:
        NotFoundError: unknown model, alias or version. BundleError: the bundle fails verification.
    """
    path, _ = resolve_bundle(ref, _config(config))
    return load_predictor(load_bundle(path))


def read_labelled(path: str | Path, config: NlpopsConfig) -> Dataset:
    """Read a labelled dataset with the column names of ``config.data``."""
    settings = config.data
    return read_dataset(
        path, text_column=settings.text_column, label_column=settings.label_column, lang_column=settings.lang_column
    )


def train(
    data: str | Path | Dataset,
    *,
    test: str | Path | Dataset | None = None,
    config: NlpopsConfig | str | Path | None = None,
    name: str | None = None,
    out: str | Path | None = None,
    register: bool = False,
    overwrite: bool = False,
    strategy: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train the configured family, evaluate it, write a bundle, and optionally register it.

    Without ``test``, a stratified split of ``data`` (``config.data.test_size``, seed ``config.data.seed``)
    is held out. ``out`` defaults to ``models/<name>``. With a language ``strategy`` (``per-language``,
    ``multilingual``, ``auto``), or when the data has a language column with several languages, training
    follows ``config.languages`` and may produce a model set (one model per language, routed).
    """
    cfg = _config(config)
    train_set = data if isinstance(data, Dataset) else read_labelled(data, cfg)
    if test is None:
        train_set, test_set = split_dataset(train_set, cfg.data.test_size, cfg.data.seed)
    else:
        test_set = test if isinstance(test, Dataset) else read_labelled(test, cfg)
    model_name = name or cfg.name
    out_path = Path(out) if out is not None else Path("models") / model_name
    several_languages = train_set.langs is not None and len(set(train_set.langs)) > 1
    if strategy is not None or several_languages:
        bundle = train_by_language(
            cfg, train_set, test_set, out_path, model_name, strategy, overwrite=overwrite, progress=progress
        )
    else:
        bundle = build_bundle(
            cfg, train_set, test_set, out_path, name=model_name, overwrite=overwrite, progress=progress
        )
    registered = open_registry(cfg.registry).register(bundle.path, model_name) if register else None
    return TrainResult(bundle, registered)


@dataclass(frozen=True)
class PackageResult:
    """What :func:`package` produced: the bundle, its registry entry when registered, and the packaging report
    (source kind, parity measured, seconds taken)."""

    bundle: Bundle
    report: PackageReport
    registered: ModelVersion | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        return self.bundle.manifest.metrics


def package(
    source: str | Path,
    *,
    name: str,
    out: str | Path | None = None,
    data: str | Path | Dataset | None = None,
    test: str | Path | Dataset | None = None,
    register: bool = False,
    component: str | None = None,
    labels: str | Path | None = None,
    trust: Sequence[str] = (),
    unsafe_pickle: bool = False,
    config: NlpopsConfig | str | Path | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> PackageResult:
    """Turn a model a team already has into a verified bundle (and optionally register it).

    ``source`` is a Hugging Face sequence-classifier folder, a spaCy pipeline (folder or installed package
    name), a ``.skops`` file, a pickle/joblib file (only with ``unsafe_pickle``) or an ONNX graph (with
    ``labels``). The bundle must predict what the source library predicts (within 1e-5) on the reference
    texts of ``data`` or on built-in probe texts, else nothing is written. ``data`` (texts; labels not needed)
    gives the drift reference; ``test`` (labelled) gives metrics computed by nlpops. ``out`` defaults to
    ``models/<name>``.

    Raises:
        PackageError: the source is refused (one line naming the file and what to do) or parity fails.
        RegistryError: ``name`` is not a valid model name.
        DataError: ``data`` or ``test`` cannot be read. MissingExtraError: the source's library is missing.
    """
    check_model_name(name)  # before it becomes a path (models/NAME) or a registry entry
    cfg = _config(config)
    columns = cfg.data
    reference = data
    if reference is not None and not isinstance(reference, Dataset):
        reference = read_dataset(
            reference, text_column=columns.text_column, label_column=None, lang_column=columns.lang_column
        )
    test_set = test if test is None or isinstance(test, Dataset) else read_labelled(test, cfg)
    options = SourceOptions(
        component=component,
        labels_file=Path(labels) if labels is not None else None,
        trust=tuple(trust),
        unsafe_pickle=unsafe_pickle,
        warn=warn or warn_loudly,
    )
    out_path = Path(out) if out is not None else Path("models") / name
    report = package_model(
        source,
        out_path,
        name=name,
        options=options,
        data=reference,
        test=test_set,
        overwrite=overwrite,
        progress=progress,
    )
    registered = open_registry(cfg.registry).register(report.bundle.path, name) if register else None
    return PackageResult(report.bundle, report, registered)


def evaluate(
    ref: str | Path | Predictor,
    data: str | Path | Dataset,
    *,
    config: NlpopsConfig | str | Path | None = None,
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class scores, confusion matrix (and per language) of a model on ``data``."""
    cfg = _config(config)
    predictor = ref if isinstance(ref, Predictor) else load(ref, config=cfg)
    dataset = data if isinstance(data, Dataset) else read_labelled(data, cfg)
    predicted = [label for label, _ in predictor.predict(dataset.texts)]
    report = classification_report(dataset.labels, predicted, predictor.labels, dataset.langs)
    report["model"] = predictor.manifest.name
    report["version"] = predictor.manifest.version
    report["data"] = dataset.source
    return report


__all__ = ["PackageResult", "TrainResult", "evaluate", "load", "package", "read_labelled", "resolve_bundle", "train"]
