"""Every family passes the one conformance suite (round trip, shapes, probabilities, tamper refusal, ONNX parity)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nlpops.checklist import NlpopsConfig
from nlpops.testing import tiny_dataset
from nlpops.testing.conformance import ConformanceError, check_family, check_predictor, tiny_encoder_folder


def family_config(family: str, tmp_path: Path) -> dict[str, Any]:
    if family == "tfidf":
        return {"tfidf": {"char_ngrams": False}}
    if family == "transformer":
        return {"transformer": {"encoder": str(tiny_encoder_folder(tmp_path / "encoder"))}}
    return {"spacy": {"epochs": 8}}


@pytest.mark.parametrize("family", ["tfidf", "spacy", "transformer"])
def test_family_passes_conformance(family: str, tmp_path: Path) -> None:
    config = NlpopsConfig.model_validate({"model": {"family": family, **family_config(family, tmp_path)}})
    report = check_family(config, tiny_dataset(), tmp_path / "run")
    assert report.bundle.manifest.family == family
    if family == "spacy":
        assert report.exported is None
    else:
        assert report.exported is not None and report.export_agreement == 1.0


def test_conformance_catches_a_predictor_that_breaks_the_contract(tiny_bundle: Any) -> None:
    from nlpops.runtimes import load_predictor

    class Unnormalised:
        """A real predictor whose probabilities are doubled: the suite must notice."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner
            self.labels = inner.labels
            self.manifest = inner.manifest

        def predict_proba(self, texts: Any) -> Any:
            return self.inner.predict_proba(texts) * 2

        def predict(self, texts: Any) -> Any:
            return self.inner.predict(texts)

        def text_lengths(self, texts: Any) -> Any:
            return self.inner.text_lengths(texts)

    with pytest.raises(ConformanceError, match=r"outside \[0, 1\]|sum to"):
        check_predictor(Unnormalised(load_predictor(tiny_bundle)), tiny_dataset().texts)
