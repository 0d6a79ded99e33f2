"""Real models built the way teams build them (nlpops.testing.sources), saved where nlpops package finds them.

Everything is session-scoped and read-only: a test that changes a source copies it first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from package_support import INTENTS, banking_intents

from nlpops.data import Dataset


@pytest.fixture(scope="session")
def intents_train() -> Dataset:
    return banking_intents("train", 40)


@pytest.fixture(scope="session")
def intents_test() -> Dataset:
    return banking_intents("test", 20)


@pytest.fixture(scope="session")
def hf_tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nlpops.testing.sources import tiny_hf_classifier_folder

    return tiny_hf_classifier_folder(tmp_path_factory.mktemp("hf") / "tiny-classifier", list(INTENTS))


@pytest.fixture(scope="session")
def minilm_folder(tmp_path_factory: pytest.TempPathFactory, intents_train: Dataset) -> Path:
    """all-MiniLM-L6-v2 + a 4-intent head fine-tuned for 20 steps (160 texts, batches of 16), save_pretrained."""
    from nlpops.testing.sources import minilm_classifier_folder

    return minilm_classifier_folder(tmp_path_factory.mktemp("minilm") / "intents-minilm", intents_train)


@pytest.fixture(scope="session")
def spacy_folder(tmp_path_factory: pytest.TempPathFactory, intents_train: Dataset, intents_test: Dataset) -> Path:
    """A textcat trained with `python -m spacy train` on a generated config (the model-last folder)."""
    from nlpops.testing.sources import spacy_textcat_folder

    return spacy_textcat_folder(tmp_path_factory.mktemp("spacy"), intents_train, intents_test)


@pytest.fixture(scope="session")
def sklearn_pipeline(intents_train: Dataset) -> object:
    from nlpops.testing.sources import text_pipeline

    return text_pipeline(intents_train)


@pytest.fixture(scope="session")
def skops_file(tmp_path_factory: pytest.TempPathFactory, sklearn_pipeline: object) -> Path:
    import skops.io as sio

    path = tmp_path_factory.mktemp("skops") / "intents.skops"
    sio.dump(sklearn_pipeline, path)
    return path


@pytest.fixture(scope="session")
def joblib_file(tmp_path_factory: pytest.TempPathFactory, sklearn_pipeline: object) -> Path:
    import joblib

    path = tmp_path_factory.mktemp("joblib") / "intents.joblib"
    joblib.dump(sklearn_pipeline, path)
    return path


@pytest.fixture(scope="session")
def onnx_token_folder(tmp_path_factory: pytest.TempPathFactory, hf_tiny_folder: Path) -> Path:
    """The tiny classifier exported with torch.onnx by hand (as another toolchain would), its tokenizer.json and
    a labels.txt: what a team brings as an ONNX classifier."""
    import shutil
    import warnings

    import torch
    import transformers

    folder = tmp_path_factory.mktemp("onnx-token") / "classifier"
    folder.mkdir()
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(hf_tiny_folder)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(hf_tiny_folder))
    sample = tokenizer(["a short text", "and a somewhat longer one"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter warns while tracing transformers models
        torch.onnx.export(
            model,
            (),
            str(folder / "model.onnx"),
            kwargs={n: sample[n] for n in names},
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    shutil.copy2(hf_tiny_folder / "tokenizer.json", folder / "tokenizer.json")
    (folder / "labels.txt").write_text("\n".join(INTENTS) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def onnx_sklearn_file(tmp_path_factory: pytest.TempPathFactory, sklearn_pipeline: object) -> Path:
    """The scikit-learn pipeline converted by skl2onnx with its defaults (label + ZipMap probabilities)."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.feature_extraction.text import TfidfVectorizer

    folder = tmp_path_factory.mktemp("onnx-sklearn")
    graph = to_onnx(
        sklearn_pipeline,
        initial_types=[("text", StringTensorType([None, 1]))],
        options={TfidfVectorizer: {"locale": "C.UTF-8"}},
    )
    (folder / "intents.onnx").write_bytes(graph.SerializeToString())
    (folder / "labels.txt").write_text("\n".join(INTENTS) + "\n", encoding="utf-8")
    return folder / "intents.onnx"


# source fixture -> what nlpops.package needs besides the source (the labels file of an ONNX graph, ...)
SOURCES: dict[str, dict[str, object]] = {
    "hf_tiny_folder": {},
    "spacy_folder": {},
    "skops_file": {},
    "joblib_file": {"unsafe_pickle": True},
    "onnx_token_folder": {},
    "onnx_sklearn_file": {"labels": "labels.txt"},
}


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, intents_train: Dataset):
    """``packaged(source_fixture)``: that source packaged once per session with its reference data."""
    import warnings

    import nlpops

    cache: dict[str, object] = {}
    root = tmp_path_factory.mktemp("packaged")

    def build(fixture: str):
        if fixture not in cache:
            source = request.getfixturevalue(fixture)
            extra = dict(SOURCES.get(fixture, {}))
            if "labels" in extra:
                extra["labels"] = Path(source).parent / str(extra["labels"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # --unsafe-pickle's warning (tested on its own)
                cache[fixture] = nlpops.package(
                    source, name=fixture.replace("_", "-"), out=root / fixture, data=intents_train, **extra
                )
        return cache[fixture]

    return build
