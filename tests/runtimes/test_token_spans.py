"""Subword predictions aggregated into character spans exactly as transformers' own
``pipeline("token-classification", aggregation_strategy="simple")`` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpops.data import bundled_dataset, read_dataset
from nlpops.runtimes.token_spans import aggregate_simple, entity_types, softmax
from nlpops.tasks import Span
from nlpops.testing.entities import TOKEN_TAGS, tiny_hf_token_classifier_folder

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def token_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_hf_token_classifier_folder(tmp_path_factory.mktemp("tok") / "model")


def ours(folder: Path, texts: list[str]) -> list[list[Span]]:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    model = transformers.AutoModelForTokenClassification.from_pretrained(str(folder)).eval()
    tags = [model.config.id2label[i] for i in range(model.config.num_labels)]
    out = []
    for text in texts:
        encoded = tokenizer(text, truncation=True, return_offsets_mapping=True, return_special_tokens_mask=True)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([encoded["input_ids"]])).logits[0].numpy()
        out.append(aggregate_simple(softmax(logits), encoded["offset_mapping"], encoded["special_tokens_mask"], tags))
    return out


def theirs(folder: Path, texts: list[str]) -> list[list[dict[str, Any]]]:
    pipe = transformers.pipeline("token-classification", model=str(folder), aggregation_strategy="simple")
    return [pipe(text) for text in texts]


def test_aggregate_simple_equals_transformers_pipeline_on_wnut17(token_classifier: Path) -> None:
    texts = [*read_dataset(bundled_dataset("wnut17", "test")).texts[:150], "Zoë flew to Paris 🙂 with Ünal", "a  b"]
    expected = theirs(token_classifier, texts)
    got = ours(token_classifier, texts)
    assert sum(len(e) for e in expected) > 100  # the random model finds many spans: the comparison is not vacuous
    for text, mine, reference in zip(texts, got, expected, strict=True):
        assert [(s.start, s.end, s.label) for s in mine] == [
            (e["start"], e["end"], e["entity_group"]) for e in reference
        ]
        assert [s.score for s in mine] == pytest.approx([float(e["score"]) for e in reference], abs=1e-6)
        assert all(text[s.start : s.end].strip() for s in mine)


def test_entity_types_follow_the_pipeline_prefix_rule() -> None:
    assert entity_types(TOKEN_TAGS) == ["LOC", "PER", "creative-work"]
    assert entity_types(["O", "PER", "creative-work"]) == ["PER", "work"]  # split("-", 1)[-1], as transformers


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(range(5)), st.floats(0.3, 1.0), st.booleans()), max_size=20))
def test_aggregate_simple_groups_like_the_pipeline_rule(tokens: list[tuple[int, float, bool]]) -> None:
    """Against a direct transcription of transformers' group_entities on the same token decisions."""
    tags = ["O", "B-PER", "I-PER", "LOC", "B-LOC"]
    proba = np.full((len(tokens), len(tags)), 0.0)
    for row, (column, score, _special) in enumerate(tokens):
        proba[row] = (1.0 - score) / (len(tags) - 1)
        proba[row, column] = score if score > 1.0 / len(tags) else 1.0
    offsets = [(2 * i, 2 * i + 1) for i in range(len(tokens))]
    special = [t[2] for t in tokens]
    pipe = transformers.TokenClassificationPipeline.__new__(transformers.TokenClassificationPipeline)
    entities = [
        {"entity": tags[int(proba[i].argmax())], "score": float(proba[i].max()), "word": "w", "start": s, "end": e}
        for i, (s, e) in enumerate(offsets)
        if not special[i]
    ]
    pipe.tokenizer = type("T", (), {"convert_tokens_to_string": staticmethod(lambda tokens: " ".join(tokens))})()
    expected = [g for g in pipe.group_entities(entities) if g["entity_group"] != "O"]
    got = aggregate_simple(proba, offsets, special, tags)
    assert [(s.start, s.end, s.label) for s in got] == [(g["start"], g["end"], g["entity_group"]) for g in expected]
    assert [s.score for s in got] == pytest.approx([float(g["score"]) for g in expected])
