"""Token classification to character spans: subword predictions aggregated the way transformers'
``pipeline("token-classification", aggregation_strategy="simple")`` does, in numpy (no torch: the ONNX runtime
uses it too).

Per token (special tokens skipped): the softmax of its logits, its best tag and that tag's probability. Tokens
are grouped in order: a token joins the previous group when its entity type equals the group's last token's and
its tag is not a ``B-`` tag (a tag without a ``B-``/``I-`` prefix continues); a group becomes one span from its
first token's start offset to its last token's end offset, typed by its first tag without the prefix, scored by
the mean of its tokens' probabilities. Groups typed ``O`` are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nlpops.tasks import Span

OUTSIDE = "O"


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax over the last axis (shifted by the max, as transformers does)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=-1, keepdims=True))


def _tag(name: str) -> tuple[str, str]:
    if name.startswith("B-"):
        return "B", name[2:]
    if name.startswith("I-"):
        return "I", name[2:]
    return "I", name


def entity_types(tags: Sequence[str]) -> list[str]:
    """The entity types a token classifier's tags name (``B-PER``, ``I-PER`` → ``PER``; ``O`` left out), sorted."""
    return sorted({name.split("-", 1)[-1] for name in tags} - {OUTSIDE})


def aggregate_simple(
    proba: np.ndarray, offsets: Sequence[tuple[int, int]], special: Sequence[bool], tags: Sequence[str]
) -> list[Span]:
    """The spans of one text from its tokens' tag probabilities.

    Args:
        proba: ``(n_tokens, len(tags))`` probabilities (:func:`softmax` of the logits).
        offsets: each token's ``(start, end)`` characters in the text (the fast tokenizer's offset mapping).
        special: whether each token is a special token (``[CLS]``, ``[SEP]``, padding): skipped.
        tags: the tag of each probability column (the model's ``id2label`` in id order).

    Returns:
        The spans in text order.
    """
    best = proba.argmax(axis=-1)
    groups: list[list[tuple[str, float, int, int]]] = []
    for index in range(len(best)):
        if special[index]:
            continue
        column = int(best[index])
        token = (tags[column], float(proba[index, column]), int(offsets[index][0]), int(offsets[index][1]))
        if groups:
            bi, kind = _tag(token[0])
            if kind == _tag(groups[-1][-1][0])[1] and bi != "B":
                groups[-1].append(token)
                continue
        groups.append([token])
    spans = []
    for group in groups:
        label = group[0][0].split("-", 1)[-1]
        if label == OUTSIDE:
            continue
        score = float(np.nanmean([token[1] for token in group]))
        spans.append(Span(group[0][2], group[-1][3], label, score))
    return spans


__all__ = ["OUTSIDE", "aggregate_simple", "entity_types", "softmax"]
