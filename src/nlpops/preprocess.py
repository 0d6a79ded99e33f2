"""Text preprocessing steps, named in the bundle manifest and applied identically at training and inference.

A step is a versioned name (``"nfc.v1"``); a bundle lists its steps, and every runtime applies exactly
those, so there is no training/serving skew. Unknown steps are refused when a bundle loads.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence

from nlpops.errors import BundleError

_WHITESPACE = re.compile(r"\s+")


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _collapse_whitespace(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _lowercase(text: str) -> str:
    return text.lower()


STEPS: dict[str, Callable[[str], str]] = {
    "nfc.v1": _nfc,
    "collapse_whitespace.v1": _collapse_whitespace,
    "lowercase.v1": _lowercase,
}

DEFAULT_STEPS: tuple[str, ...] = ("nfc.v1", "collapse_whitespace.v1")


def check_steps(steps: Iterable[str]) -> list[str]:
    """Validate step names; raise BundleError naming an unknown one."""
    names = list(steps)
    for name in names:
        if name not in STEPS:
            known = ", ".join(sorted(STEPS))
            raise BundleError(
                f'Unknown preprocessing step "{name}" (known: {known}). '
                "The bundle was made by a newer nlpops: upgrade nlpops."
            )
    return names


def build_preprocessor(steps: Sequence[str]) -> Callable[[Sequence[str]], list[str]]:
    """A function applying ``steps`` in order to each text."""
    funcs = [STEPS[name] for name in check_steps(steps)]

    def preprocess(texts: Sequence[str]) -> list[str]:
        out = list(texts)
        for func in funcs:
            out = [func(t) for t in out]
        return out

    return preprocess


__all__ = ["DEFAULT_STEPS", "STEPS", "build_preprocessor", "check_steps"]
