"""The Python API: ``load``, ``train``, ``package`` and ``evaluate``, the library counterparts of the CLI verbs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpops.bundle import Bundle, check_out_free, load_bundle
from nlpops.checklist import NlpopsConfig, load_config
from nlpops.data import BadRow, Dataset, detect_task, read_dataset, split_dataset
from nlpops.errors import ConfigError, DataError
from nlpops.families import build_bundle
from nlpops.language_codes import CodeMapping
from nlpops.languages import score_model_set, train_by_language
from nlpops.metrics import task_report
from nlpops.names import model_name_problem
from nlpops.packaging import PackageReport, SourceOptions, package_model
from nlpops.packaging.source import warn_loudly
from nlpops.progress import ProgressLike, as_progress
from nlpops.registry import ModelVersion, open_registry, resolve_bundle
from nlpops.runtimes import Predictor, load_predictor, predict_output
from nlpops.tasks import TASKS


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced: the bundle on disk and, when registered, its registry entry."""

    bundle: Bundle
    registered: ModelVersion | None = None
    skipped: tuple[tuple[str, BadRow], ...] = ()
    """Rows left out with ``data.skip_bad_rows``: ``(source, row)``."""
    lang_codes: CodeMapping | None = None
    """How the training data's language codes were normalised (None: no language column)."""
    promoted: str | None = None
    """The alias moved to the registered version (``promote``), if any."""

    @property
    def metrics(self) -> dict[str, Any]:
        """The test metrics recorded in the bundle's manifest (``accuracy``, ``macro_f1``, ...)."""
        return self.bundle.manifest.metrics


def _config(config: NlpopsConfig | str | Path | None) -> NlpopsConfig:
    if isinstance(config, NlpopsConfig):
        return config
    return load_config(config)


def load(ref: str | Path, *, config: NlpopsConfig | str | Path | None = None) -> Predictor:
    """Load a model as a Predictor from a bundle path, ``NAME@ALIAS`` or ``NAME:VERSION``.

    Raises:
        NotFoundError: unknown model, alias or version. BundleError: the bundle fails verification.
    """
    return load_predictor(load_bundle(resolve_bundle(ref, _config(config).registry).path))


def read_labelled(path: str | Path, config: NlpopsConfig) -> Dataset:
    """Read a labelled dataset with the column names of ``config.data``."""
    settings = config.data
    return read_dataset(
        path,
        text_column=settings.text_column,
        label_column=settings.label_column,
        lang_column=settings.lang_column,
        task=config.model.task,
        skip_bad_rows=settings.skip_bad_rows,
    )


def train(
    data: str | Path | Dataset | None,
    *,
    test: str | Path | Dataset | None = None,
    config: NlpopsConfig | str | Path | None = None,
    name: str | None = None,
    out: str | Path | None = None,
    register: bool = False,
    overwrite: bool = False,
    strategy: str | None = None,
    progress: ProgressLike = None,
    family: str | None = None,
    promote: str | None = None,
) -> TrainResult:
    """Train the configured family, evaluate it, write a bundle, and optionally register and promote it.

    Without ``test``, a stratified split of ``data`` (``config.data.test_size``, seed ``config.data.seed``)
    is held out. ``out`` defaults to ``models/<name>``. With a language ``strategy`` (``per-language``,
    ``multilingual``, ``auto``), or when the data has a language column with several languages, training
    follows ``config.languages`` and may produce a model set (one model per language, routed).

    The task is ``config.model.task``, else inferred from the data (a ``labels`` list: multilabel; ``entities``:
    entities). ``family`` (``nlpops train --family``) must train that task; without it ``config.model.family``
    is used when it does, else the task's default family.

    An embedding model (``config.model.task: embedding``) is the configured encoder as it is: ``data`` is optional
    (its texts become the reference texts; labelled, they also evaluate it by nearest-neighbour accuracy, all of
    them: nothing is trained, so nothing is held out).

    Args:
        data: training data (CSV, JSONL, Parquet path, or a :class:`~nlpops.data.Dataset`); None: embedding only.
        test: held-out test data (default: a stratified split of ``data``).
        config: the config, or the nlpops.yaml to read (default: ``./nlpops.yaml`` or defaults).
        name: the model's name (default: ``config.name``).
        out: the bundle folder (default: ``models/<name>``).
        register: register the bundle in the registry (``config.registry``) as a new version.
        overwrite: replace an existing bundle at ``out`` (else a taken ``out`` is refused before training).
        strategy: a language strategy: ``per-language``, ``multilingual`` or ``auto``.
        progress: receives progress (a :class:`nlpops.progress.Progress`, or a function of one message).
        family: the model family: ``tfidf``, ``spacy`` or ``transformer`` (default: ``config.model.family``).
        promote: with ``register``: move this alias (e.g. ``"production"``) to the new version.

    Raises:
        ConfigError: an invalid name, or ``promote`` without ``register``.
        BundleExistsError: ``out`` exists and ``overwrite`` is false.
        DataError: unreadable data, bad rows (unless ``config.data.skip_bad_rows``), or a language strategy for
            a task other than classification.
        FamilyError: ``family`` does not train the data's task.
    """
    cfg = _config(config)
    if promote is not None and not register:
        raise ConfigError(f"promote={promote!r} needs register=True: only registered versions can be promoted.")
    if family is not None:  # a model set trains each language's model with config.model.family
        cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"family": family})})
    model_name = name or cfg.name
    problem = model_name_problem(model_name)
    if problem is not None:  # before anything is read or written: the name becomes the folder models/<name>
        raise ConfigError(f"{problem} Pass another --name (or set name in nlpops.yaml).")
    out_path = Path(out) if out is not None else Path("models") / model_name
    check_out_free(out_path, overwrite)  # before reading or training: a taken folder fails in a second
    if data is None:
        if cfg.model.task != "embedding":
            raise DataError("Training needs data: pass --data FILE (only --task embedding can do without).")
        train_set = Dataset([], [], source="<no data>", task="embedding")
    else:
        train_set = data if isinstance(data, Dataset) else read_labelled(data, cfg)
    skipped = [(train_set.source, row) for row in train_set.skipped]
    if test is None and train_set.task == "embedding":  # nothing is trained: every labelled text evaluates
        test_set: Dataset | None = train_set if train_set.labels else None
    elif test is None:
        train_set, test_set = split_dataset(train_set, cfg.data.test_size, cfg.data.seed)
    else:
        test_set = test if isinstance(test, Dataset) else read_labelled(test, cfg)
        skipped += [(test_set.source, row) for row in test_set.skipped]
    several_languages = train_set.langs is not None and len(set(train_set.langs)) > 1
    if strategy is not None and train_set.task != "classification":
        raise DataError(
            f"--strategy {strategy}: language strategies train classification models; this is {train_set.task} "
            "data. Train without --strategy (one model for every language)."
        )
    if (strategy is not None or several_languages) and train_set.task == "classification":
        bundle = train_by_language(
            cfg,
            train_set,
            test_set,
            out_path,
            model_name,
            strategy,
            overwrite=overwrite,
            progress=as_progress(progress),
        )
    else:
        bundle = build_bundle(
            cfg, train_set, test_set, out_path, name=model_name, overwrite=overwrite, progress=progress, family=family
        )
    if not register:
        return TrainResult(bundle, None, tuple(skipped), train_set.lang_codes)
    registry = open_registry(cfg.registry)
    registered = registry.register(bundle.path, model_name)
    if promote is not None:
        registry.promote(registered.name, registered.version, promote)
    return TrainResult(bundle, registered, tuple(skipped), train_set.lang_codes, promote)


@dataclass(frozen=True)
class PackageResult:
    """What :func:`package` produced: the bundle, its registry entry when registered, and the packaging report
    (source kind, parity measured, seconds taken)."""

    bundle: Bundle
    report: PackageReport
    registered: ModelVersion | None = None

    @property
    def metrics(self) -> dict[str, Any]:
        """The metrics nlpops computed on ``test`` (empty without it)."""
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

    ``source`` is a Hugging Face sequence- or token-classifier folder, a spaCy pipeline with a text classifier or
    NER (folder or package name), a ``.skops`` file, a pickle/joblib file (only with ``unsafe_pickle``) or an ONNX
    graph (with ``labels``). A multi-label model (``problem_type: multi_label_classification``, a
    ``textcat_multilabel``, a ``OneVsRestClassifier`` with ``labels``) becomes a ``multilabel`` bundle (0.5 per
    label), an entity model an ``entities`` one. The bundle must predict what the source library predicts (within
    1e-5; entity spans equal) on the texts of ``data`` or built-in probe texts, else nothing is written. ``data``
    (texts; labels not needed) gives the drift reference; ``test`` (labelled) gives metrics computed by
    nlpops. ``out`` defaults to ``models/<name>``.

    Raises:
        PackageError: the source is refused (one line naming the file and what to do) or parity fails.
        ConfigError: ``name`` is not a valid model name.
        DataError: ``data`` or ``test`` cannot be read. MissingExtraError: the source's library is missing.
    """
    problem = model_name_problem(name)
    if problem is not None:  # before anything is read or written: the name becomes the folder models/<name>
        raise ConfigError(f"{problem} Pass another --name.")
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
    """The model's task's metrics on ``data`` (:func:`nlpops.metrics.task_report`).

    classification: accuracy, macro-F1, per-class scores, confusion matrix (and per language); multilabel:
    micro/macro-F1, per-label precision/recall/F1 and the thresholds used. The data is read as the model's task.
    A model set is scored as served, routed by detection; with a language column, also routed by the stated
    languages (``routed_by_stated_lang``) and the routing per language (``routing``):
    :func:`nlpops.languages.score_model_set`, the figures training records.

    Raises:
        DataError: the data is labelled for another task than the model's, or (classification) with labels the
            model does not know (the message names them).
    """
    cfg = _config(config)
    predictor = ref if isinstance(ref, Predictor) else load(ref, config=cfg)
    task = predictor.task
    if isinstance(data, Dataset):
        dataset = data
    else:
        found = detect_task(data, cfg.data.label_column)
        if found != task and found not in TASKS[task].evaluated_on:
            raise DataError(
                f'"{data}" holds {found} data; model "{predictor.manifest.name}" is {_a(task)} model. '
                f"Evaluate it on {task} data (the formats: docs/tasks.md)."
            )
        dataset = read_labelled(data, cfg.model_copy(update={"model": cfg.model.model_copy(update={"task": task})}))
    if dataset.task != task:
        raise DataError(
            f'"{dataset.source}" is {dataset.task} data; model "{predictor.manifest.name}" is {_a(task)} model.'
        )
    if task == "classification":
        _check_known_labels(dataset, predictor)
    if predictor.manifest.runtime == "router" and task == "classification":
        report, _, _ = score_model_set(predictor, dataset)
    else:
        output = predict_output(predictor, dataset.texts)
        report = task_report(
            task, dataset.answers, output, predictor.labels, thresholds=predictor.thresholds, langs=dataset.langs
        )
    report["task"] = task
    report["model"] = predictor.manifest.name
    report["version"] = predictor.manifest.version
    report["data"] = dataset.source
    return report


def _check_known_labels(dataset: Dataset, predictor: Predictor) -> None:
    """Refuse gold labels the model cannot predict: its scores for them would be meaningless (and zero)."""
    known = set(predictor.labels)
    unknown = [label for label in dataset.labels if label not in known]
    if not unknown:
        return
    names = sorted(set(unknown))
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    model_labels = ", ".join(predictor.labels[:5]) + (", ..." if len(predictor.labels) > 5 else "")
    raise DataError(
        f'"{dataset.source}" has labels the model does not know: {shown} ({len(unknown)} of {len(dataset)} rows). '
        f"Model {predictor.manifest.name} knows {len(known)} labels ({model_labels}). Evaluate on data labelled "
        "with those, or train a model on these labels."
    )


def _a(task: str) -> str:
    """The task with its article: "a multilabel", "an embedding"."""
    return f"{'an' if task[0] in 'aeiou' else 'a'} {task}"


__all__ = ["PackageResult", "TrainResult", "evaluate", "load", "package", "read_labelled", "train"]
