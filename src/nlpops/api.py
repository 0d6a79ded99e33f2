"""The Python API: ``load``, ``train`` and ``evaluate``, the library counterparts of the CLI verbs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpops.bundle import Bundle, load_bundle
from nlpops.checklist import NlpopsConfig, load_config
from nlpops.data import Dataset, read_dataset, split_dataset
from nlpops.errors import ConfigError
from nlpops.families import build_bundle
from nlpops.languages import train_by_language
from nlpops.metrics import classification_report
from nlpops.names import model_name_problem
from nlpops.registry import ModelVersion, open_registry, resolve_bundle
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
    model_name = name or cfg.name
    problem = model_name_problem(model_name)
    if problem is not None:  # before anything is read or written: the name becomes the folder models/<name>
        raise ConfigError(f"{problem} Pass another --name (or set name in nlpops.yaml).")
    train_set = data if isinstance(data, Dataset) else read_labelled(data, cfg)
    if test is None:
        train_set, test_set = split_dataset(train_set, cfg.data.test_size, cfg.data.seed)
    else:
        test_set = test if isinstance(test, Dataset) else read_labelled(test, cfg)
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


__all__ = ["TrainResult", "evaluate", "load", "read_labelled", "train"]
