"""Runtimes turn a Bundle into a Predictor. Each runtime module imports its framework lazily."""

from __future__ import annotations

import importlib
from pathlib import Path

from nlpops.bundle import Bundle, load_bundle
from nlpops.errors import RuntimeLoadError
from nlpops.runtimes.base import TASK_OUTPUTS, BasePredictor, Predictor, RoutingDecision, labels_of, predict_output

# runtime name in the manifest -> "module:class"; a module is imported only when a bundle needs it.
RUNTIMES: dict[str, str] = {
    "sklearn": "nlpops.runtimes.sklearn:SklearnPredictor",
    "onnx": "nlpops.runtimes.onnx:OnnxPredictor",
    "spacy": "nlpops.runtimes.spacy:SpacyPredictor",
    "torch": "nlpops.runtimes.torch:TorchPredictor",
    "router": "nlpops.runtimes.router:RouterPredictor",
}
# (runtime, runtime_options["kind"]) -> "module:class", for the kinds of model a runtime serves with another class.
RUNTIME_KINDS: dict[tuple[str, str], str] = {
    ("torch", "token_classifier"): "nlpops.runtimes.token_classifier:TorchTokenPredictor",
    ("onnx", "token_classifier"): "nlpops.runtimes.token_classifier:OnnxTokenPredictor",
}


def load_predictor(bundle: Bundle | Path | str) -> Predictor:
    """Load a (verified) bundle with the runtime its manifest names.

    Raises:
        BundleError: the bundle fails verification.
        RuntimeLoadError: unknown runtime, or the runtime failed to load the files.
        MissingExtraError: the runtime's optional packages are not installed.
    """
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle)
    target = RUNTIMES.get(bundle.manifest.runtime)
    if target is None:
        raise RuntimeLoadError(
            f'Bundle "{bundle.path}" needs runtime "{bundle.manifest.runtime}", which this nlpops does not know '
            f"(known: {', '.join(sorted(RUNTIMES))}). Upgrade nlpops."
        )
    target = RUNTIME_KINDS.get((bundle.manifest.runtime, str(bundle.manifest.runtime_options.get("kind"))), target)
    module_name, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    predictor: Predictor = cls(bundle)
    return predictor


__all__ = [
    "RUNTIMES",
    "RUNTIME_KINDS",
    "TASK_OUTPUTS",
    "BasePredictor",
    "Predictor",
    "RoutingDecision",
    "labels_of",
    "load_predictor",
    "predict_output",
]
