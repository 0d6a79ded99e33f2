"""Retraining an entity model: the gates compare the entity F1 (exact spans) of challenger and champion."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from nlpops.checklist import NlpopsConfig, RegistrySettings
from nlpops.registry import open_registry
from nlpops.retrain import retrain
from nlpops.tasks import Span
from nlpops.testing import tiny_entities_dataset

pytest.importorskip("spacy")

CONFIG = NlpopsConfig.model_validate(
    {
        "name": "ner",
        "model": {"spacy": {"epochs": 30}},
        "retraining": {"min_macro_f1": 0.5, "max_regression": 0.05, "max_latency_regression": 10.0},
    }
)


def test_retrain_entities_gates_use_the_entity_f1(tmp_path: Path) -> None:
    data = tiny_entities_dataset()
    registry = open_registry(RegistrySettings(home=tmp_path / "home"))
    first = retrain(CONFIG, data, registry, test=data, out_dir=tmp_path / "models")
    assert first.promoted and first.challenger_metrics["f1"] == 1.0
    assert [g.name for g in first.gates] == ["min_f1"]
    assert "F1 1.0000" in first.gates[0].detail

    swapped = {"person": "city", "city": "person"}
    wrong = replace(
        data, spans=[tuple(Span(s.start, s.end, swapped[s.label]) for s in spans) for spans in data.spans or []]
    )
    worse = retrain(CONFIG, wrong, registry, test=data, out_dir=tmp_path / "models")
    assert not worse.promoted and worse.decided_by == "min_f1"
    assert worse.challenger_metrics["f1"] < 0.5 <= worse.champion_metrics["f1"]  # type: ignore[index]
    assert registry.alias_target("ner", "production") == first.challenger.version
