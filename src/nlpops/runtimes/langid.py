"""Language identification with py3langid (naive Bayes over byte n-grams; the model ships in the wheel).

Detection is a runtime concern (a shipped model run at inference time), so it lives here, to the left of
``nlpops.languages``; the router runtime and the language strategies both use it. The choice of py3langid
over lingua-language-detector is measured in ``benchmarks/languages.py`` and explained in docs/languages.md.

Rules on top of the raw classifier (component ``"py3langid.v1"``):

- a text with fewer than ``min_letters`` letters (empty after trimming, emoji, digits, punctuation) is ``und``;
- with a set of served ``languages``, the best served language wins (probabilities renormalised over the
  served set, which is more accurate on short texts), unless the unrestricted classifier is at least
  ``foreign_confidence`` sure of a language outside the set: then that language is reported (and the text
  goes to the fallback model);
- a best probability below ``min_confidence`` (too short, mixed or unknown) gives ``und``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nlpops.errors import MissingExtraError, RuntimeLoadError
from nlpops.language_codes import UND, normalize_lang

OTHER = "other"
"""The one bucket for every language a model does not serve (see :func:`bounded_lang`)."""
DETECTOR_NAME = "py3langid.v1"


def count_letters(text: str) -> int:
    """Number of alphabetic characters (any script) in ``text``."""
    return sum(1 for ch in text if ch.isalpha())


def bounded_lang(code: str | None, languages: Sequence[str]) -> str | None:
    """A language as services and monitoring may record it: one of ``languages``, ``und``, or ``other``.

    Clients name languages freely (``"lang": "x7q"``); anything recorded per language (the status document,
    the live-statistics store, metrics) must not grow with what they send. So a code is normalised
    (``"de-DE"`` -> ``"de"``) and kept only when the model serves it (or it is ``und``, unknown); every other
    code becomes :data:`OTHER`. None (no language given) stays None.

    Args:
        code: a language code from a client, a detector or a router.
        languages: the languages the model serves (its manifest's ``languages``).
    """
    if code is None:
        return None
    lang = normalize_lang(code) if len(code) <= 64 else OTHER
    return lang if lang == UND or lang in languages else OTHER


class LanguageDetector:
    """Detects the language of texts; thread-safe once built (read-only numpy arrays).

    Args:
        languages: the served languages (ISO 639-1); None: any language py3langid knows.
        min_confidence: below this probability of the best language the answer is ``und``.
        min_letters: texts with fewer letters are ``und``.
        foreign_confidence: how sure the unrestricted classifier must be to report a language outside
            ``languages``.

    Raises:
        MissingExtraError: py3langid is not installed.
        RuntimeLoadError: a language in ``languages`` is unknown to py3langid (other than ``und``).
    """

    name = DETECTOR_NAME

    def __init__(
        self,
        languages: Sequence[str] | None = None,
        *,
        min_confidence: float = 0.5,
        min_letters: int = 3,
        foreign_confidence: float = 0.98,
    ) -> None:
        try:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier
        except ImportError as exc:
            raise MissingExtraError.for_extra("Language detection", "languages", "py3langid") from exc
        self._identifier: Any = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        known = frozenset(normalize_lang(str(x)) for x in self._identifier.labels)
        self.known = known
        """Every language py3langid knows."""
        wanted = sorted({normalize_lang(lang) for lang in languages or []} - {UND})
        unknown = [lang for lang in wanted if lang not in known]
        if unknown:
            raise RuntimeLoadError(
                f"Language detection (py3langid) does not know {', '.join(unknown)}, so it cannot be restricted "
                f"to {'it' if len(unknown) == 1 else 'them'}. Leave {', '.join(unknown)} out of the languages to "
                "detect (texts in it are then detected as their closest known language, or und), or send lang "
                "with each request (see docs/languages.md)."
            )
        self.languages: list[str] | None = wanted or None
        classes: list[str] = list(self._identifier.nb_classes)
        self._classes = np.array(classes)
        self._served_mask = np.isin(self._classes, wanted)
        self.min_confidence = min_confidence
        self.min_letters = min_letters
        self.foreign_confidence = foreign_confidence

    def detect(self, text: str) -> str:
        """The language of one text (ISO 639-1), or ``und``."""
        return self.detect_with_confidence(text)[0]

    def detect_with_confidence(self, text: str) -> tuple[str, float]:
        """The language of one text and the probability behind it (``("und", 0.0)`` without letters)."""
        if count_letters(text) < self.min_letters:
            return UND, 0.0
        # py3langid's per-class probabilities (aliases folded), as its own classify()/rank() compute them
        scores: np.ndarray = self._identifier._decide(text)
        best = int(scores.argmax())
        best_lang, best_p = str(self._classes[best]), float(scores[best])
        if self.languages is None:
            return (best_lang, best_p) if best_p >= self.min_confidence else (UND, best_p)
        if not self._served_mask[best] and best_p >= self.foreign_confidence:
            return best_lang, best_p
        served_scores = np.where(self._served_mask, scores, 0.0)
        total = float(served_scores.sum())
        index = int(served_scores.argmax())
        confidence = float(served_scores[index]) / total if total > 0 else 0.0
        lang = str(self._classes[index])
        return (lang, confidence) if confidence >= self.min_confidence else (UND, confidence)

    def detect_many(self, texts: Sequence[str]) -> list[str]:
        """The language of each text, in order."""
        return [self.detect(t) for t in texts]

    def identify(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """The most probable language of each text and its probability, with no threshold applied (``("und",
        0.0)`` for texts with too few letters); with served ``languages``, as :meth:`detect_with_confidence`
        sees them but below ``min_confidence`` too. A router applies its own calibrated thresholds to these."""
        out: list[tuple[str, float]] = []
        for text in texts:
            if count_letters(text) < self.min_letters:
                out.append((UND, 0.0))
                continue
            scores: np.ndarray = self._identifier._decide(text)
            if self.languages is not None:
                best = int(scores.argmax())
                if self._served_mask[best] or float(scores[best]) < self.foreign_confidence:
                    scores = np.where(self._served_mask, scores, 0.0)
                    total = float(scores.sum())
                    scores = scores / total if total > 0 else scores
            best = int(scores.argmax())
            out.append((normalize_lang(str(self._classes[best])), float(scores[best])))
        return out

    def settings(self) -> dict[str, Any]:
        """The detector's parameters as JSON (stored in a model set's routing file)."""
        return {
            "name": self.name,
            "languages": list(self.languages or []),
            "min_confidence": self.min_confidence,
            "min_letters": self.min_letters,
            "foreign_confidence": self.foreign_confidence,
        }

    @classmethod
    def from_settings(cls, settings: dict[str, Any], languages: Sequence[str] | None = None) -> LanguageDetector:
        """Rebuild a detector from :meth:`settings` output; its ``languages`` win over the ``languages`` given.

        Raises:
            RuntimeLoadError: the settings name an unknown detector or carry invalid values.
        """
        name = settings.get("name", DETECTOR_NAME)
        if name != DETECTOR_NAME:
            raise RuntimeLoadError(f'Unknown language detector "{name}" (known: {DETECTOR_NAME}). Upgrade nlpops.')
        try:
            return cls(
                settings.get("languages") or languages,
                min_confidence=float(settings.get("min_confidence", 0.5)),
                min_letters=int(settings.get("min_letters", 3)),
                foreign_confidence=float(settings.get("foreign_confidence", 0.98)),
            )
        except (TypeError, ValueError) as exc:
            raise RuntimeLoadError(
                f"Invalid language detector settings {settings}: {exc}. Rebuild the model set."
            ) from exc


__all__ = ["DETECTOR_NAME", "OTHER", "UND", "LanguageDetector", "bounded_lang", "count_letters", "normalize_lang"]
