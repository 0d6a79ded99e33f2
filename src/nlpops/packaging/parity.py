"""The packaging core's parity check, by task: the bundle must answer what the source library answers.

A classifier's probabilities must agree within ``atol``; an entity model's spans must be the same spans (start,
end and type, in the same order) with scores within ``atol`` (spaCy's ``doc.ents`` carry no score: 1.0 on both
sides). Any difference refuses the package: nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nlpops.errors import PackageError
from nlpops.packaging.source import ClassifierSource, EntitySource, Source
from nlpops.tasks import Span

PARITY_ATOL = 1e-5


def check_parity(source: Source, candidate: Any, texts: Sequence[str], atol: float = PARITY_ATOL) -> float:
    """The largest difference between the bundle and the source library on ``texts``: probabilities for a
    classifier, span scores for an entity model (whose spans must be equal).

    Raises:
        PackageError: the answers differ in shape or spans, or a difference exceeds ``atol`` (nothing is written).
    """
    if source.task == "entities":
        if not isinstance(source, EntitySource):
            raise PackageError(f'"{source.origin}" is an entity model without spans. This is a bug in nlpops.')
        return check_span_parity(source, candidate, texts, atol)
    if not isinstance(source, ClassifierSource):
        raise PackageError(f'"{source.origin}" is a {source.task} model without probabilities (a bug in nlpops).')
    return check_proba_parity(source, candidate, texts, atol)


def check_proba_parity(source: ClassifierSource, candidate: Any, texts: Sequence[str], atol: float) -> float:
    """The largest probability difference between the bundle and the source library on ``texts``."""
    expected = np.asarray(source.predict_proba(list(texts)), dtype=np.float64)
    got = np.asarray(candidate.predict_proba(list(texts)), dtype=np.float64)
    if expected.shape != got.shape:
        raise PackageError(
            f'Parity check failed for "{source.origin}": the bundle returns shape {got.shape}, the source '
            f"{expected.shape}. Nothing was written; please report this."
        )
    if not len(texts):
        return 0.0
    diff = np.abs(expected - got)
    worst = float(diff.max())
    if not worst <= atol:  # also catches NaN
        row = int(diff.max(axis=1).argmax())
        raise PackageError(
            f'Parity check failed for "{source.origin}": the bundle differs from the source library by {worst:.2e} '
            f'(> {atol:g}) on text {row} ("{texts[row][:60]}"). Nothing was written; please report this.'
        )
    return worst


def check_span_parity(source: EntitySource, candidate: Any, texts: Sequence[str], atol: float) -> float:
    """The largest span-score difference between the bundle and the source library on ``texts``, whose spans
    must be equal (start, end, type)."""
    expected = source.predict_entities(list(texts))
    got = candidate.predict_entities(list(texts))
    if len(expected) != len(got):
        raise PackageError(
            f'Parity check failed for "{source.origin}": the bundle answers {len(got)} texts of {len(expected)}. '
            "Nothing was written; please report this."
        )
    worst = 0.0
    for row, (theirs, ours) in enumerate(zip(expected, got, strict=True)):
        if [(s.start, s.end, s.label) for s in theirs] != [(s.start, s.end, s.label) for s in ours]:
            raise PackageError(
                f'Parity check failed for "{source.origin}": on text {row} ("{texts[row][:60]}") the bundle finds '
                f"{_show(ours)}, the source library {_show(theirs)}. Nothing was written; please report this."
            )
        for a, b in zip(theirs, ours, strict=True):
            diff = abs(float(a.score) - float(b.score))
            if not diff <= atol:  # also catches NaN
                raise PackageError(
                    f'Parity check failed for "{source.origin}": the score of {a.label} {a.start}:{a.end} on text '
                    f'{row} ("{texts[row][:60]}") differs from the source library by {diff:.2e} (> {atol:g}). '
                    "Nothing was written; please report this."
                )
            worst = max(worst, diff)
    return worst


def _show(spans: Sequence[Span]) -> str:
    shown = ", ".join(f"{s.label} {s.start}:{s.end}" for s in spans[:4])
    return f"[{shown}{' ...' if len(spans) > 4 else ''}]"


__all__ = ["PARITY_ATOL", "check_parity", "check_proba_parity", "check_span_parity"]
