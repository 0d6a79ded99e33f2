"""``nlpops retrain`` on packaged models: each is retrained with its own library; an ONNX graph cannot be."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from package_support import banking_intents

import nlpops
from nlpops.checklist import NlpopsConfig, RegistrySettings
from nlpops.cli import main
from nlpops.data import Dataset
from nlpops.errors import PackageError
from nlpops.registry import open_registry
from nlpops.retrain import retrain
from nlpops.runtimes import load_predictor

CONFIG = NlpopsConfig.model_validate(
    {"name": "intents", "retraining": {"min_macro_f1": 0.2, "max_regression": 1.0, "max_latency_regression": 100.0}}
)


def _champion(source: Path, tmp_path: Path, data: Dataset, **options):
    registry = open_registry(RegistrySettings(home=tmp_path / "home"))
    bundle = nlpops.package(source, name="intents", out=tmp_path / "champion", data=data, **options).bundle
    entry = registry.register(bundle.path, "intents")
    registry.promote("intents", entry.version, "production")
    return registry, bundle


def test_retrain_packaged_sklearn_refits_the_same_pipeline_parameters(
    skops_file: Path, tmp_path: Path, intents_train: Dataset, intents_test: Dataset
) -> None:
    registry, champion = _champion(skops_file, tmp_path, intents_train)
    more = intents_train.concat(banking_intents("train", 40, skip=40))
    report = retrain(CONFIG, more, registry, test=intents_test, out_dir=tmp_path / "models")
    challenger = registry.get("intents", report.challenger.version).bundle_path
    spec_before = json.loads((champion.path / "pipeline.json").read_text())
    spec_after = json.loads((Path(challenger) / "pipeline.json").read_text())
    for part in ("pipeline", "union", "classifier"):
        strip = {k: v for k, v in spec_before[part].items() if k != "classes"}
        assert strip == {k: v for k, v in spec_after[part].items() if k != "classes"}
    assert load_predictor(challenger).manifest.package["source"]["kind"] == "skops"
    vocab_before = json.loads((champion.path / "vocabulary.json").read_text())
    vocab_after = json.loads((Path(challenger) / "vocabulary.json").read_text())
    assert len(vocab_after["features.tfidf"]) > len(vocab_before["features.tfidf"])  # fitted on more data
    assert [g.name for g in report.gates][:2] == ["min_macro_f1", "max_regression"]


def test_retrain_packaged_spacy_updates_it_with_spacy_training_loop(
    spacy_folder: Path, tmp_path: Path, intents_train: Dataset, intents_test: Dataset
) -> None:
    registry, champion = _champion(spacy_folder, tmp_path, intents_train)
    report = retrain(CONFIG, intents_train, registry, test=intents_test, out_dir=tmp_path / "models")
    challenger = Path(registry.get("intents", report.challenger.version).bundle_path)
    manifest = load_predictor(challenger).manifest
    assert manifest.runtime == "spacy" and manifest.package["retrained_from"]["version"] == champion.manifest.version
    config = (challenger / "spacy" / "config.cfg").read_text()
    assert 'train = "' in config and "train.spacy" in config  # spaCy's loop read our corpus from its own config
    before = load_predictor(champion.path).predict_proba(intents_test.texts)
    after = load_predictor(challenger).predict_proba(intents_test.texts)
    assert not np.allclose(before, after, atol=1e-6)


def test_retrain_packaged_onnx_graph_says_it_cannot(
    onnx_sklearn_file: Path, tmp_path: Path, intents_train: Dataset, capsys, monkeypatch
) -> None:
    registry, _ = _champion(onnx_sklearn_file, tmp_path, intents_train, labels=onnx_sklearn_file.parent / "labels.txt")
    with pytest.raises(PackageError, match="packaged from an ONNX graph, which cannot be retrained"):
        retrain(CONFIG, intents_train, registry, test=intents_train, out_dir=tmp_path / "models")
    data = tmp_path / "new.csv"
    data.write_text(
        "text,label\n"
        + "".join(f'"{t}",{label}\n' for t, label in zip(intents_train.texts, intents_train.labels, strict=True))
    )
    monkeypatch.setenv("NLPOPS_HOME", str(tmp_path / "home"))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["retrain", "--data", str(data), "--name", "intents"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exit_info.value.code == 1 and len(lines) == 1 and "cannot be retrained" in lines[0], err
