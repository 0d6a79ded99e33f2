"""The source library's own answer for each kind of packaged model, computed without nlpops."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nlpops.data import Dataset, bundled_dataset, read_dataset

INTENTS = ("card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed")


def banking_intents(split: str, per_label: int, skip: int = 0) -> Dataset:
    """``per_label`` banking77 rows of each of four intents (real texts, after the first ``skip``), in file order."""
    data = read_dataset(bundled_dataset("banking77", split))
    rows: list[int] = []
    for intent in INTENTS:
        rows += [i for i, label in enumerate(data.labels) if label == intent][skip : skip + per_label]
    return data.subset(sorted(rows))


def library_proba(fixture: str, source: Any, texts: list[str], labels: list[str]) -> np.ndarray:
    """Probabilities (n, len(labels)) the way the model's own library answers, columns in ``labels`` order.

    Args:
        fixture: which kind of source (the conftest fixture name).
        source: the source (a folder or file; the fitted pipeline for scikit-learn files).
        texts: the texts.
        labels: the bundle's labels.
    """
    if fixture in ("hf_tiny_folder", "minilm_folder"):
        import transformers

        classify = transformers.pipeline("text-classification", model=str(source), top_k=None, device="cpu")
        answers = classify(texts, batch_size=8)
        return np.array([[{a["label"]: a["score"] for a in row}[label] for label in labels] for row in answers])
    if fixture == "spacy_folder":
        import spacy

        nlp = spacy.load(source)
        return np.array([[doc.cats[label] for label in labels] for doc in nlp.pipe(texts)])
    if fixture in ("skops_file", "joblib_file", "sklearn_pipeline"):
        classes = [str(c) for c in source.classes_]
        proba = source.predict_proba(texts)
        return np.asarray(proba)[:, [classes.index(label) for label in labels]]
    import onnxruntime as ort

    if fixture == "onnx_token_folder":
        import transformers

        folder = Path(source)
        session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
        tokenizer = transformers.PreTrainedTokenizerFast(
            tokenizer_file=str(folder / "tokenizer.json"), pad_token="[PAD]"
        )
        batch = tokenizer(texts, padding=True, truncation=True, return_token_type_ids=True, return_tensors="np")
        (logits,) = session.run(["logits"], {k: batch[k].astype(np.int64) for k in batch})
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)
    if fixture == "onnx_sklearn_file":
        session = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
        (maps,) = session.run(["output_probability"], {"text": np.array(texts, dtype=object).reshape(-1, 1)})
        return np.array([[row[label] for label in labels] for row in maps])
    raise ValueError(fixture)


def words(text: str) -> list[str]:
    """A custom tokenizer, as teams write them: skops does not trust a function it does not know."""
    return text.lower().split()
