"""How a model set decides which model answers a text: an identifier says which language a text is in and how
sure it is; calibrated thresholds say when that is sure enough to send the text to that language's model.

Identifiers (the ``detector`` section of a model set's ``routing.json``, by ``name``):

- ``py3langid.v2``: py3langid over every language it knows, never restricted to the set's languages, so a
  language it does not know is named as its closest known one, with the probability it gives that one;
- ``classifier.v1``: a language classifier trained on the set's own training texts (a sub-bundle of the set,
  ``"model": "models/language-id"``, whose labels are the set's languages): it knows the set's languages,
  regional ones included, better than a generic detector;
- ``py3langid.v1`` (model sets built before calibrated routing): py3langid restricted to the routed
  languages, its own ``min_confidence``; read so that older model sets keep loading.

A text goes to language L's model when the identifier names L, L has a model, and the identifier's probability
reaches L's threshold (``"thresholds": {"it": 0.93, "pl": null}``: null means never by detection, as when the
detector cannot tell L from a relative); every other text goes to the fallback. The thresholds are calibrated
on held-out data of the set when it is built (:mod:`nlpops.languages.detection`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import numpy as np

from nlpops.bundle import Bundle, load_bundle
from nlpops.errors import RuntimeLoadError
from nlpops.language_codes import UND, normalize_lang
from nlpops.runtimes.base import Predictor, RoutingDecision
from nlpops.runtimes.langid import DETECTOR_NAME, LanguageDetector, count_letters

PY3LANGID = "py3langid.v2"
CLASSIFIER = "classifier.v1"
LEGACY_PY3LANGID = DETECTOR_NAME
IDENTIFIERS = (PY3LANGID, CLASSIFIER, LEGACY_PY3LANGID)

Identified = list[tuple[str, float]]
"""Per text: the most probable language and its probability (``("und", 0.0)``: too few letters to tell)."""


class Identifier(Protocol):
    """Names the most probable language of each text, with its probability, without any threshold."""

    @property
    def name(self) -> str:
        """The component name recorded in ``routing.json`` (``py3langid.v2``, ``classifier.v1``)."""
        ...

    def identify(self, texts: Sequence[str]) -> Identified:
        """The most probable language of each text and its probability, in input order."""
        ...


class Py3langidIdentifier:
    """py3langid as an :class:`Identifier` (over every language it knows unless ``languages`` restricts it).

    Args:
        detector: the detector (its ``min_letters`` rule applies).
        name: the component name.
    """

    def __init__(self, detector: LanguageDetector, name: str = PY3LANGID) -> None:
        self.detector = detector
        self.name = name

    def identify(self, texts: Sequence[str]) -> Identified:
        if self.name == LEGACY_PY3LANGID:  # v1: the detector's own threshold, und below it
            return [self.detector.detect_with_confidence(t) for t in texts]
        return self.detector.identify(texts)


class ClassifierIdentifier:
    """A classifier whose labels are languages (trained on a model set's own texts) as an :class:`Identifier`.

    Args:
        predictor: the classifier.
        min_letters: texts with fewer letters are ``und`` (as with py3langid).
    """

    name = CLASSIFIER

    def __init__(self, predictor: Predictor, min_letters: int = 3) -> None:
        self.predictor = predictor
        self.min_letters = min_letters
        self._langs = [normalize_lang(label) for label in predictor.labels]

    def identify(self, texts: Sequence[str]) -> Identified:
        out: Identified = [(UND, 0.0)] * len(texts)
        rows = [i for i, text in enumerate(texts) if count_letters(text) >= self.min_letters]
        if rows:
            proba = np.asarray(self.predictor.predict_proba([texts[i] for i in rows]))
            best = proba.argmax(axis=1)
            for position, (row, index) in enumerate(zip(rows, best.tolist(), strict=True)):
                out[row] = (self._langs[index], float(proba[position, index]))
        return out


@dataclass(frozen=True)
class LanguageRouting:
    """Which model answers each text: an identifier and a threshold per routed language.

    Attributes:
        identifier: names each text's language and its probability.
        thresholds: per routed language, the probability a detection needs to reach its model (None: never
            by detection); a routed language not listed needs ``default_threshold``.
        default_threshold: the threshold of routed languages without their own.
    """

    identifier: Identifier
    thresholds: Mapping[str, float | None]
    default_threshold: float = 0.5

    def threshold(self, lang: str) -> float | None:
        """The probability a detection of ``lang`` needs (None: never)."""
        return self.thresholds.get(lang, self.default_threshold)

    def decide(self, texts: Sequence[str], routes: Collection[str]) -> RoutingDecision:
        """Route by detection: each text to its detected language's model if sure enough, else the fallback."""
        found = self.identifier.identify(texts)
        return RoutingDecision(
            tuple(self.route_of(lang, p, routes) for lang, p in found),
            tuple(lang for lang, _ in found),
            tuple(p for _, p in found),
        )

    def route_of(self, lang: str, confidence: float, routes: Collection[str]) -> str:
        """The model a detection of ``lang`` with ``confidence`` reaches: ``lang``, or ``und`` (the fallback)."""
        if lang not in routes:
            return UND
        needed = self.threshold(lang)
        return lang if needed is not None and confidence >= needed else UND

    def settings(self) -> dict[str, Any]:
        """The ``detector`` section of ``routing.json`` (without the classifier's folder)."""
        return {
            "name": self.identifier.name,
            "thresholds": dict(sorted(self.thresholds.items())),
            "default_threshold": self.default_threshold,
        }


def _thresholds(raw: Any, where: str) -> dict[str, float | None]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RuntimeLoadError(f'{where}: "thresholds" must be an object of language -> probability or null.')
    out: dict[str, float | None] = {}
    for lang, value in raw.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1):
            raise RuntimeLoadError(
                f'{where}: the threshold of language "{lang}" must be a probability (0 to 1) or null, got {value!r}. '
                "Rebuild the model set."
            )
        out[normalize_lang(str(lang))] = None if value is None else float(value)
    return out


def load_language_routing(
    settings: Mapping[str, Any],
    bundle_path: Path,
    routes: Sequence[str],
    load: Callable[[Bundle], Predictor],
) -> LanguageRouting:
    """The routing a model set's ``detector`` section describes.

    Args:
        settings: the ``detector`` section of ``routing.json`` (empty: ``py3langid.v1``, as older sets wrote).
        bundle_path: the model set's folder (the classifier's sub-bundle is inside it).
        routes: the languages with their own model.
        load: turns the classifier's sub-bundle into a Predictor.

    Raises:
        RuntimeLoadError: an unknown identifier, invalid thresholds, or a classifier outside the bundle.
    """
    where = f'Model set "{bundle_path}": routing.json "detector"'
    name = settings.get("name", LEGACY_PY3LANGID)
    thresholds = _thresholds(settings.get("thresholds"), where)
    try:
        default = float(settings.get("default_threshold", 0.5))
        min_letters = int(settings.get("min_letters", 3))
    except (TypeError, ValueError) as exc:
        raise RuntimeLoadError(f"{where}: invalid default_threshold or min_letters ({exc}). Rebuild it.") from exc
    identifier: Identifier
    if name == LEGACY_PY3LANGID:
        identifier = Py3langidIdentifier(LanguageDetector.from_settings(dict(settings), routes), LEGACY_PY3LANGID)
        return LanguageRouting(identifier, {}, 0.0)
    if name == PY3LANGID:
        identifier = Py3langidIdentifier(LanguageDetector(None, min_confidence=0.0, min_letters=min_letters))
    elif name == CLASSIFIER:
        model = settings.get("model")
        rel = PurePosixPath(str(model))
        if not isinstance(model, str) or rel.is_absolute() or not rel.parts or ".." in rel.parts:
            raise RuntimeLoadError(f'{where}: the classifier "{model}" must be a folder inside the bundle.')
        identifier = ClassifierIdentifier(load(load_bundle(bundle_path / model, verify=False)), min_letters)
    else:
        raise RuntimeLoadError(
            f'{where}: unknown language identifier "{name}" (known: {", ".join(IDENTIFIERS)}). Upgrade nlpops.'
        )
    return LanguageRouting(identifier, thresholds, default)


__all__ = [
    "CLASSIFIER",
    "IDENTIFIERS",
    "LEGACY_PY3LANGID",
    "PY3LANGID",
    "ClassifierIdentifier",
    "Identified",
    "Identifier",
    "LanguageRouting",
    "Py3langidIdentifier",
    "load_language_routing",
]
