from __future__ import annotations

import subprocess
import sys

import nlpops


def test_public_api_all_is_exactly_the_exported_names() -> None:
    assert sorted(nlpops.__all__) == [  # what help(nlpops) documents; NlpopsConfig & co. are importable too
        "AsyncClient",
        "Client",
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


def test_public_api_train_refuses_an_existing_out_naming_the_parameter(tmp_path) -> None:
    import pytest

    from nlpops.errors import BundleError
    from nlpops.testing import tiny_dataset

    nlpops.train(tiny_dataset(), test=tiny_dataset(), out=tmp_path / "m")
    with pytest.raises(BundleError) as info:
        nlpops.train(tmp_path / "not-read.csv", out=tmp_path / "m")  # refused before the data is read
    message = str(info.value)
    assert "already exists" in message and "overwrite=True" in message and "--" not in message
    assert nlpops.train(tiny_dataset(), test=tiny_dataset(), out=tmp_path / "m", overwrite=True).bundle.path.is_dir()


def test_public_api_evaluate_names_labels_the_model_does_not_know(tmp_path) -> None:
    import pytest

    from nlpops.data import Dataset
    from nlpops.errors import DataError
    from nlpops.testing import tiny_tfidf_bundle

    predictor = nlpops.load(tiny_tfidf_bundle(tmp_path / "m").path)
    data = Dataset(["my card", "hello", "hi", "rain"], ["card", "greeting", "greeting", "weather"], source="d.csv")
    with pytest.raises(DataError, match=r"does not know: greeting, weather \(3 of 4 rows\)"):
        nlpops.evaluate(predictor, data)


def test_public_api_train_with_family_and_promote(tmp_path, monkeypatch) -> None:
    import pytest

    from nlpops.errors import ConfigError
    from nlpops.testing import tiny_dataset

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="register=True"):
        nlpops.train(tiny_dataset(), name="tiny", promote="production")
    result = nlpops.train(
        tiny_dataset(), test=tiny_dataset(), name="tiny", family="tfidf", register=True, promote="production"
    )
    assert result.promoted == "production" and result.bundle.manifest.family == "tfidf"
    assert nlpops.load("tiny@production").manifest.version == result.bundle.manifest.version


def _undocumented(cls: type) -> list[str]:
    """Public methods and properties defined on ``cls`` (not inherited) without a docstring of their own."""
    missing = []
    for name, member in vars(cls).items():
        if name.startswith("_"):
            continue
        function = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
        if callable(function) and not (getattr(function, "__doc__", None) or "").strip():
            missing.append(f"{cls.__name__}.{name}")
    return missing


def test_public_api_help_is_short_and_every_public_method_has_a_docstring() -> None:
    import inspect
    import pydoc

    text = pydoc.render_doc(nlpops, renderer=pydoc.plaintext)
    assert len(text.splitlines()) < 500, "help(nlpops): the first-hour API, not every field of the config"
    for name in ("train", "load", "evaluate", "Predictor", "TrainResult", "NlpopsConfig", "NlpopsError"):
        assert name in text, name
    exported = [getattr(nlpops, name) for name in sorted(set(dir(nlpops)) - {"__version__"})]
    assert {"Bundle", "NlpopsConfig", "BundleManifest", "NlpopsError"} <= set(dir(nlpops))  # importable, not in help
    missing = [f"{obj.__name__}" for obj in exported if not (inspect.getdoc(obj) or "").strip()]
    for cls in (obj for obj in exported if inspect.isclass(obj)):
        missing += _undocumented(cls)
    assert missing == []
    assert {"family", "promote", "progress"} <= set(inspect.signature(nlpops.train).parameters)
