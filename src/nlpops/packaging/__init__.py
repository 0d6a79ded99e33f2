"""Bring your own model: ``nlpops package`` turns a model a team already has into a verified bundle.

Sources, one adapter module each: a Hugging Face sequence- or token-classifier folder (:mod:`.huggingface`), a
spaCy pipeline with a text classifier or entity components (:mod:`.spacy`), a scikit-learn pipeline saved with
skops or, with ``--unsafe-pickle``, pickled (:mod:`.sklearn`), an ONNX classifier graph (:mod:`.onnx`). The
shared core (:mod:`.core`) detects the kind, checks that the bundle predicts what the source library predicts
(:mod:`.parity`: probabilities, or an entity model's spans), and writes the bundle; :mod:`.retrain` retrains
a packaged model with its own library. Downstream of the bundle nothing knows a model was packaged rather than
trained.

Registration happens above this layer (the API and the CLI), as for trained bundles.
"""

from __future__ import annotations

from nlpops.packaging.core import (
    NO_REFERENCE,
    PARITY_ATOL,
    SOURCE_KINDS,
    PackageReport,
    check_parity,
    detect_kind,
    open_source,
    package_model,
    package_source,
)
from nlpops.packaging.probes import PROBE_TEXTS
from nlpops.packaging.retrain import packaged_kind, retrain_packaged
from nlpops.packaging.source import SOURCE_THRESHOLD, Source, SourceOptions

__all__ = [
    "NO_REFERENCE",
    "PARITY_ATOL",
    "PROBE_TEXTS",
    "SOURCE_KINDS",
    "SOURCE_THRESHOLD",
    "PackageReport",
    "Source",
    "SourceOptions",
    "check_parity",
    "detect_kind",
    "open_source",
    "package_model",
    "package_source",
    "packaged_kind",
    "retrain_packaged",
]
