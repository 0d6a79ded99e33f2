"""Files written by older nlpops versions must keep loading (bundle manifest v1, nlpops.yaml v1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nlpops.bundle import load_bundle
from nlpops.checklist import NlpopsConfig, load_config
from nlpops.runtimes import load_predictor

FIXTURES = Path(__file__).parent / "fixtures"


def test_fixture_bundle_v1_loads_verifies_and_predicts() -> None:
    bundle = load_bundle(FIXTURES / "bundle-v1-tfidf")
    assert bundle.manifest.schema_version == 1 and bundle.manifest.labels == ["card", "money"]
    predictor = load_predictor(bundle)
    proba = predictor.predict_proba(["I lost my card", "refund this fee please"])
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert [label for label, _ in predictor.predict(["I lost my card", "refund this fee please"])] == ["card", "money"]


def test_fixture_config_v1_loads_as_the_defaults() -> None:
    ignore = {"registry": {"home"}}  # the test environment sets NLPOPS_HOME
    assert load_config(FIXTURES / "nlpops-v1.yaml").model_dump(exclude=ignore) == NlpopsConfig().model_dump(
        exclude=ignore
    )
