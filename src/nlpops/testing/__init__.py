"""What tests and users share: tiny real models built in seconds with no network, and the conformance suite.

``tiny_tfidf_bundle`` trains a TF-IDF + logistic regression model on a dozen sentences
(``tiny_multilabel_bundle`` a multi-label one, one-vs-rest with tuned thresholds, on two dozen);
``tiny_transformer_bundle`` a head over a random 2-layer BERT; ``tiny_embedding_bundle`` that BERT as an
embedding model; ``tiny_spacy_bundle`` a spaCy textcat.
``check_family`` / ``check_predictor`` run the checks every family and runtime must pass.
``tiny_entities_bundle`` trains a spaCy NER on a dozen sentences; ``check_entity_predictor`` checks an entity runtime.
:mod:`nlpops.testing.sources` builds models the way teams build them outside nlpops (a fine-tuned Hugging
Face classifier, a ``spacy train`` textcat, a scikit-learn pipeline), the sources of ``nlpops package``.
"""

from __future__ import annotations

from pathlib import Path

from nlpops.bundle import Bundle
from nlpops.checklist import NlpopsConfig
from nlpops.data import Dataset
from nlpops.families import build_bundle

TINY_TEXTS: list[tuple[str, str]] = [
    ("my card has not arrived yet", "card"),
    ("when will my new card be delivered", "card"),
    ("I lost my card yesterday", "card"),
    ("the card was stolen from my wallet", "card"),
    ("my debit card is blocked", "card"),
    ("please send me a replacement card", "card"),
    ("what is the exchange rate for euros", "money"),
    ("how much does a transfer abroad cost", "money"),
    ("I was charged twice for the same payment", "money"),
    ("my balance did not update after the top up", "money"),
    ("can I get a refund for this purchase", "money"),
    ("why is there an extra fee on my statement", "money"),
]


def tiny_dataset() -> Dataset:
    """Twelve labelled sentences (two labels), enough to train a real model in well under a second."""
    return Dataset([t for t, _ in TINY_TEXTS], [label for _, label in TINY_TEXTS], source="<tiny>")


TINY_MULTILABEL_TEXTS: list[tuple[str, tuple[str, ...]]] = [
    ("my card has not arrived yet", ("card",)),
    ("when will my new card be delivered", ("card",)),
    ("I lost my card yesterday", ("card",)),
    ("my debit card is blocked", ("card",)),
    ("please send me a replacement card", ("card",)),
    ("my card was stolen, block it right now", ("card", "urgent")),
    ("urgent: someone is using my card", ("card", "urgent")),
    ("help, my card was swallowed by the machine today", ("card", "urgent")),
    ("what is the exchange rate for euros", ("money",)),
    ("how much does a transfer abroad cost", ("money",)),
    ("why is there an extra fee on my statement", ("money",)),
    ("my balance did not update after the top up", ("money",)),
    ("can I get a refund for this purchase", ("money",)),
    ("I was charged twice, refund me immediately", ("money", "urgent")),
    ("urgent: money missing from my account", ("money", "urgent")),
    ("my rent transfer failed and it is due today", ("money", "urgent")),
    ("my card payment was declined and I was charged a fee", ("card", "money")),
    ("the card top up took money twice", ("card", "money")),
    ("card charged twice, fix it now", ("card", "money", "urgent")),
    ("please answer quickly, this cannot wait", ("urgent",)),
    ("as soon as possible please, it is an emergency", ("urgent",)),
    ("this is urgent, call me back now", ("urgent",)),
    ("how do I change my address", ("other",)),
    ("can I open a second account", ("other",)),
    ("where do I find my account number", ("other",)),
]


def tiny_multilabel_dataset() -> Dataset:
    """Twenty-five sentences with one to three of four labels (card, money, urgent, other): multi-label data."""
    return Dataset(
        [t for t, _ in TINY_MULTILABEL_TEXTS],
        [],
        source="<tiny-multilabel>",
        task="multilabel",
        label_sets=[labels for _, labels in TINY_MULTILABEL_TEXTS],
    )


def tiny_multilabel_bundle(out: Path | str, *, name: str = "tiny-multilabel", c: float = 10.0) -> Bundle:
    """Train a multi-label TF-IDF bundle (one-vs-rest, thresholds tuned) on :func:`tiny_multilabel_dataset`."""
    config = NlpopsConfig.model_validate({"name": name, "model": {"tfidf": {"c": c}}})
    data = tiny_multilabel_dataset()
    return build_bundle(config, data, data, out, name=name)


def tiny_tfidf_bundle(out: Path | str, *, name: str = "tiny", c: float = 10.0) -> Bundle:
    """Train a TF-IDF bundle on :func:`tiny_dataset` into ``out`` (a new directory)."""
    config = NlpopsConfig.model_validate({"name": name, "model": {"tfidf": {"c": c}}})
    data = tiny_dataset()
    return build_bundle(config, data, data, out, name=name)


from nlpops.testing.conformance import (  # noqa: E402  (conformance uses tiny_dataset above)
    ConformanceError,
    FamilyReport,
    check_family,
    check_predictor,
    tiny_embedding_bundle,
    tiny_encoder_folder,
    tiny_spacy_bundle,
    tiny_transformer_bundle,
)
from nlpops.testing.entities import (  # noqa: E402
    TINY_ENTITY_TEXTS,
    check_entity_predictor,
    tiny_entities_bundle,
    tiny_entities_dataset,
)

__all__ = [
    "TINY_ENTITY_TEXTS",
    "TINY_MULTILABEL_TEXTS",
    "TINY_TEXTS",
    "ConformanceError",
    "FamilyReport",
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
