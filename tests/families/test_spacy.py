"""spaCy family: textcat from spacy.blank(lang) or an installed pipeline, saved in spaCy's own format."""

from __future__ import annotations

import pytest

from nlpops.checklist import SpacySettings
from nlpops.errors import FamilyError
from nlpops.families.spacy import train_spacy
from nlpops.testing import tiny_dataset


def test_spacy_textcat_learns_the_tiny_data() -> None:
    data = tiny_dataset()
    model = train_spacy(SpacySettings(epochs=15), data.texts, data.labels)
    proba = model.predict_proba(data.texts)
    predicted = [model.labels[i] for i in proba.argmax(axis=1)]
    assert sum(p == y for p, y in zip(predicted, data.labels, strict=True)) >= 11
    assert model.requirements[0].startswith("spacy==")


def test_spacy_ensemble_architecture_trains(tmp_path: object) -> None:
    data = tiny_dataset()
    model = train_spacy(SpacySettings(epochs=2, architecture="ensemble"), data.texts, data.labels)
    assert model.predict_proba(data.texts).shape == (12, 2)


def test_spacy_unknown_base_and_language_are_clear_errors() -> None:
    data = tiny_dataset()
    with pytest.raises(FamilyError, match="pip install no_such_pipeline"):
        train_spacy(SpacySettings(base="no_such_pipeline"), data.texts, data.labels)
    with pytest.raises(FamilyError, match='no language "zz"'):
        train_spacy(SpacySettings(lang="zz"), data.texts, data.labels)


def test_spacy_training_counts_batches() -> None:
    from progress_support import RecordedProgress

    data = tiny_dataset()
    recorded = RecordedProgress()
    train_spacy(SpacySettings(epochs=3, batch_size=8), data.texts, data.labels, progress=recorded)
    (training,) = recorded.counted()
    assert training.total == training.done == 3 * 2 and training.notes[-1] == "epoch 3/3"
