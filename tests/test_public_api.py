from __future__ import annotations

import subprocess
import sys

import nlpops


def test_public_api_all_is_exactly_the_exported_names() -> None:
    assert sorted(nlpops.__all__) == [
        "AsyncClient",
        "Bundle",
        "BundleManifest",
        "Client",
        "NlpopsConfig",
        "NlpopsError",
        "PackageResult",
        "Predictor",
        "TrainResult",
        "__version__",
        "evaluate",
        "load",
        "load_bundle",
        "load_config",
        "package",
        "train",
    ]
    for name in nlpops.__all__:
        assert getattr(nlpops, name) is not None


def test_public_api_testing_all_is_exactly_the_exported_names() -> None:
    import nlpops.testing

    assert sorted(nlpops.testing.__all__) == [
        "ConformanceError",
        "FamilyReport",
        "TINY_ENTITY_TEXTS",
        "TINY_MULTILABEL_TEXTS",
        "TINY_TEXTS",
        "check_entity_predictor",
        "check_family",
        "check_predictor",
        "tiny_dataset",
        "tiny_embedding_bundle",
        "tiny_encoder_folder",
        "tiny_entities_bundle",
        "tiny_entities_dataset",
        "tiny_multilabel_bundle",
        "tiny_multilabel_dataset",
        "tiny_spacy_bundle",
        "tiny_tfidf_bundle",
        "tiny_transformer_bundle",
    ]
    for name in nlpops.testing.__all__:
        assert getattr(nlpops.testing, name) is not None


def test_public_api_import_is_light() -> None:
    code = (
        "import sys, nlpops; print(sorted(m for m in ('sklearn', 'torch', 'spacy', 'onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_public_api_train_load_evaluate(tmp_path, monkeypatch) -> None:
    from nlpops.data import bundled_dataset

    monkeypatch.chdir(tmp_path)
    result = nlpops.train(bundled_dataset("sms_spam", "test"), name="spam", register=True)
    assert result.registered is not None and result.registered.version == 1
    assert result.bundle.path.resolve() == tmp_path / "models" / "spam"
    predictor = nlpops.load("spam:1")
    assert predictor.labels == ["ham", "spam"]
    label, score = predictor.predict(["WINNER!! claim your free prize now, call 09061701461"])[0]
    assert label == "spam" and 0.5 < score <= 1.0
    report = nlpops.evaluate("spam:1", bundled_dataset("sms_spam", "test"))
    assert report["rows"] == 1032 and report["accuracy"] > 0.9
