"""Entity metrics: exact-span and partial-overlap scores (nervaluate), equal to spaCy's own scorer."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlpops.metrics import entities_report, task_report
from nlpops.tasks import Span

spacy = pytest.importorskip("spacy")


@cache
def _blank() -> Any:
    return spacy.blank("en")


def spacy_scores(texts: Sequence[str], gold: Sequence[Sequence[Span]], predicted: Sequence[Sequence[Span]]) -> Any:
    """spaCy's scorer (``Scorer.score_spans``, what ``nlp.evaluate`` reports as ``ents_*``) on the same spans."""
    from spacy.scorer import Scorer
    from spacy.training import Example

    nlp = _blank()
    examples = []
    for text, g, p in zip(texts, gold, predicted, strict=True):
        docs = []
        for spans in (p, g):
            doc = nlp.make_doc(text)
            doc.set_ents([doc.char_span(s.start, s.end, label=s.label) for s in spans])
            docs.append(doc)
        examples.append(Example(docs[0], docs[1]))
    return Scorer.score_spans(examples, "ents")


def test_entities_report_exact_and_partial_by_hand() -> None:
    text = "Alice and Bob went to New York City"
    gold = [(Span(0, 5, "person"), Span(10, 13, "person"), Span(22, 35, "city"))]
    # Alice right; Bob typed wrong (exact: wrong, partial: right boundaries); "New York" overlaps the city.
    predicted = [[Span(0, 5, "person"), Span(10, 13, "city"), Span(22, 30, "city")]]
    report = entities_report(gold, predicted, ["city", "person"])
    assert report["precision"] == pytest.approx(1 / 3) and report["recall"] == pytest.approx(1 / 3)
    assert report["counts"] == {"gold": 3, "predicted": 3, "correct": 1}
    # partial (types ignored): Alice and Bob exact, New York half: (2 + 0.5) / 3
    assert report["partial"]["f1"] == pytest.approx(2.5 / 3)
    assert report["per_type"]["person"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "partial_f1": pytest.approx(2 / 3),
        "support": 2,
        "predicted": 1,
    }
    assert report["per_type"]["city"]["support"] == 1 and report["per_type"]["city"]["predicted"] == 2
    assert text[22:35] == "New York City"


def test_entities_report_empty_and_no_predictions() -> None:
    assert entities_report([], [], ["person"])["f1"] == 0.0
    report = entities_report([(Span(0, 3, "person"),), ()], [[], []], ["person"])
    assert (report["precision"], report["recall"], report["f1"]) == (0.0, 0.0, 0.0)
    assert report["per_type"]["person"]["support"] == 1


def test_task_report_entities_per_language() -> None:
    gold = [(Span(0, 3, "x"),), (Span(0, 3, "x"),)]
    report = task_report("entities", gold, [[Span(0, 3, "x")], []], ["x"], langs=["en", "de"])
    assert report["per_language"]["en"]["f1"] == 1.0 and report["per_language"]["de"]["f1"] == 0.0
    assert report["f1"] == pytest.approx(2 / 3)


WORDS = ["Alice", "flew", "to", "New", "York", "with", "Bob", "and", "Acme", "Corp", "@user", "#tag", "!"]


@st.composite
def texts_with_spans(draw: st.DrawFn) -> tuple[str, list[Span], list[Span]]:
    """A text of words and two sets of word-aligned, non-overlapping spans (gold and predicted)."""
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12))
    starts = []
    position = 0
    for word in words:
        starts.append(position)
        position += len(word) + 1
    text = " ".join(words)

    def spans() -> list[Span]:
        cuts = sorted(draw(st.sets(st.integers(0, len(words)), max_size=6)))
        out = []
        for a, b in itertools.pairwise(cuts):
            if draw(st.booleans()):
                out.append(Span(starts[a], starts[b - 1] + len(words[b - 1]), draw(st.sampled_from("ABC"))))
        return out

    return text, spans(), spans()


@settings(max_examples=150, deadline=None)
@given(st.lists(texts_with_spans(), min_size=1, max_size=8))
def test_entities_report_equals_spacy_scorer(cases: list[tuple[str, list[Span], list[Span]]]) -> None:
    texts = [c[0] for c in cases]
    gold = [c[1] for c in cases]
    predicted = [c[2] for c in cases]
    ours = entities_report(gold, predicted, ["A", "B", "C"])
    theirs = spacy_scores(texts, gold, predicted)
    assert ours["precision"] == pytest.approx(theirs["ents_p"] or 0.0, abs=1e-12)
    assert ours["recall"] == pytest.approx(theirs["ents_r"] or 0.0, abs=1e-12)
    assert ours["f1"] == pytest.approx(theirs["ents_f"] or 0.0, abs=1e-12)
    for label, scores in (theirs["ents_per_type"] or {}).items():
        assert ours["per_type"][label]["f1"] == pytest.approx(scores["f"], abs=1e-12)
        assert ours["per_type"][label]["precision"] == pytest.approx(scores["p"], abs=1e-12)
        assert ours["per_type"][label]["recall"] == pytest.approx(scores["r"], abs=1e-12)
