"""An entity model's profile counts its cost per token: tokens/s next to texts/s, carried into the capacity shapes."""

from __future__ import annotations

import pytest

from nlpops.advisor.capacity import replica_shapes
from nlpops.bundle import Bundle
from nlpops.profile import profile_bundle
from nlpops.runtimes import load_predictor

pytest.importorskip("spacy")


def test_profile_entities_reports_tokens_per_second(tiny_entities: Bundle) -> None:
    texts = ["Alice flew to Paris on Monday", "the weather in Madrid is fine today, said Bob"]
    profile = profile_bundle(
        tiny_entities.path,
        texts=texts,
        threads=1,
        runtimes=("native-cpu",),
        budget_s=0.3,
        batch_sizes=(1, 8),
        repeats=1,
    )
    assert profile["bundle"]["task"] == "entities"
    tokens = load_predictor(tiny_entities.path).text_lengths(texts)
    assert tokens == [6, 10]
    for row in profile["throughput"]:
        assert row["tokens_per_text"] == pytest.approx(8.0)
        assert row["tokens_per_s"] == pytest.approx(row["texts_per_s"] * 8.0)
    entry = profile["runtimes"]["native-cpu"]
    shapes = replica_shapes(entry, slo_ms=10_000.0, share=0.5)
    assert shapes and all(shape["tokens_per_text"] == pytest.approx(8.0) for shape in shapes)


def test_profile_classifier_rows_have_no_token_figures(tiny_bundle: Bundle) -> None:
    profile = profile_bundle(
        tiny_bundle.path,
        texts=["hello"],
        threads=1,
        runtimes=("native-cpu",),
        budget_s=0.2,
        batch_sizes=(1,),
        repeats=1,
    )
    assert "tokens_per_s" not in profile["throughput"][0]
    assert replica_shapes(profile["runtimes"]["native-cpu"], 10_000.0, 0.5)[0]["tokens_per_text"] is None
