"""The ``router`` runtime: a model set (one bundle holding per-language sub-bundles) as one Predictor.

A model set bundle holds ``routing.json`` and each sub-bundle in its own folder (``models/<lang>/``,
``models/fallback/``). The outer manifest checksums every file of every sub-bundle, so a model set is
registered, promoted and rolled back as one unit. Each text goes to its language's model: the stated
language if given, else the detected one when the detector is sure enough (:mod:`nlpops.runtimes.routing`);
every other text (a language without a model, undetected, unsure) goes to the fallback. Texts of one call in
different languages are batched per model and answered in input order.

Routing file (``routing.json``, version 1)::

    {"version": 1, "routes": {"de": "models/de", "en": "models/en"}, "fallback": "models/fallback",
     "detector": {"name": "classifier.v1", "model": "models/language-id", "thresholds": {"de": 0.62, ...}}}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from nlpops.bundle import Bundle, load_bundle
from nlpops.errors import RuntimeLoadError
from nlpops.runtimes.base import BasePredictor, Predictor, RoutingDecision
from nlpops.runtimes.langid import UND, normalize_lang
from nlpops.runtimes.routing import LanguageRouting, load_language_routing

ROUTING_FILE = "routing.json"
ROUTING_VERSION = 1

LangHints = str | Sequence[str | None] | None


def read_routing(bundle: Bundle) -> dict[str, Any]:
    """Read and check a model set's routing file.

    Raises:
        RuntimeLoadError: the file is missing, corrupt, of another version, or points outside the bundle.
    """
    path = bundle.file(ROUTING_FILE)
    try:
        routing = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RuntimeLoadError(f'Model set "{bundle.path}": {ROUTING_FILE} is unreadable ({exc}). Rebuild it.') from exc
    if not isinstance(routing, dict) or routing.get("version") != ROUTING_VERSION:
        raise RuntimeLoadError(
            f'Model set "{bundle.path}": {ROUTING_FILE} must be a routing file of version {ROUTING_VERSION}. '
            "Rebuild it with this nlpops (nlpops train --strategy per-language)."
        )
    routes = routing.get("routes")
    fallback = routing.get("fallback")
    if not isinstance(routes, dict) or not isinstance(fallback, str):
        raise RuntimeLoadError(f'Model set "{bundle.path}": {ROUTING_FILE} needs "routes" (object) and "fallback".')
    for target in [*routes.values(), fallback]:
        rel = PurePosixPath(str(target))
        if not isinstance(target, str) or rel.is_absolute() or not rel.parts or ".." in rel.parts:
            raise RuntimeLoadError(f'Model set "{bundle.path}": route target "{target}" must stay inside the bundle.')
    return routing


class RouterPredictor(BasePredictor):
    """A model set as a Predictor: routes each text to its language's model, fallback for the rest.

    Sub-models apply their own preprocessing, so :meth:`predict_proba` is overridden whole (the texts reach
    the routing untouched).

    Args:
        bundle: a verified model set bundle (runtime ``router``).
        routing: how texts are routed by detection; default: as the routing file's ``detector`` says.
        load: turns a sub-bundle into a Predictor; default: :func:`nlpops.runtimes.load_predictor`.

    Raises:
        RuntimeLoadError: the routing file is invalid or a sub-bundle fails to load.
    """

    def __init__(
        self,
        bundle: Bundle,
        routing: LanguageRouting | None = None,
        load: Callable[[Bundle], Predictor] | None = None,
    ) -> None:
        if load is None:
            from nlpops.runtimes import load_predictor

            load = load_predictor
        super().__init__(bundle)
        routing_file = read_routing(bundle)
        self.routes: dict[str, str] = {normalize_lang(k): str(v) for k, v in routing_file["routes"].items()}
        self.fallback_path = str(routing_file["fallback"])
        # sub-bundles were checksummed with the model set; load each folder once, even if routed twice
        self._models: dict[str, Predictor] = {}
        for target in sorted({*self.routes.values(), self.fallback_path}):
            self._models[target] = load(load_bundle(bundle.path / target, verify=False))
        index = {label: i for i, label in enumerate(self._labels)}
        self._columns: dict[str, np.ndarray] = {}
        for target, model in self._models.items():
            missing = [label for label in model.labels if label not in index]
            if missing:
                raise RuntimeLoadError(
                    f'Model set "{bundle.path}": sub-model "{target}" has labels {missing} that the set does not '
                    "list. Rebuild the model set."
                )
            self._columns[target] = np.array([index[label] for label in model.labels], dtype=np.intp)
        if routing is None:
            detector = routing_file.get("detector") or {}
            if not isinstance(detector, dict):
                raise RuntimeLoadError(f'Model set "{bundle.path}": {ROUTING_FILE} "detector" must be an object.')
            routing = load_language_routing(detector, bundle.path, sorted(self.routes), load)
        self.language_routing = routing

    @property
    def languages(self) -> list[str]:
        """The languages that have their own route (everything else goes to the fallback)."""
        return sorted(self.routes)

    def model_for(self, lang: str) -> Predictor:
        """The Predictor that answers texts of ``lang`` (the fallback when ``lang`` has no route)."""
        return self._models[self.routes.get(normalize_lang(lang), self.fallback_path)]

    def for_language(self, lang: str) -> Predictor:
        """The sub-model of one routed language, to serve that language only (``nlpops serve REF --lang de``).

        Raises:
            RuntimeLoadError: ``lang`` has no route in this model set.
        """
        code = normalize_lang(lang)
        if code not in self.routes:
            raise RuntimeLoadError(
                f'Model set "{self._manifest.name}" has no model of its own for language "{lang}" (it has models '
                f"for {', '.join(self.languages) or 'no language'}; every other language is answered by its "
                "fallback). Serve one of those with --lang, or serve the whole set and send lang with each request."
            )
        return self._models[self.routes[code]]

    def route(self, texts: Sequence[str], hint: LangHints = None) -> RoutingDecision:
        """Which model answers each text: its language's, or ``und`` (the fallback).

        A stated language (``hint``) is followed: its model answers, or the fallback when it has none. Other
        texts are routed by detection (:class:`~nlpops.runtimes.routing.LanguageRouting`): to the detected
        language's model when the detector is sure enough, else to the fallback; what was detected and how
        sure the detector was are kept in the decision.

        Args:
            texts: the texts.
            hint: None (detect), one code for all texts, or one code (or None: detect) per text.

        Raises:
            RuntimeLoadError: ``hint`` is a list of another length than ``texts``.
        """
        if hint is None or isinstance(hint, str):
            if hint:
                return RoutingDecision((self._stated(hint),) * len(texts))
            return self.language_routing.decide(texts, self.routes)
        hints = list(hint)
        if len(hints) != len(texts):
            raise RuntimeLoadError(f"Got {len(hints)} language hints for {len(texts)} texts; give one per text.")
        langs: list[str] = [self._stated(h) if h else UND for h in hints]
        detected: list[str | None] = [None] * len(texts)
        confidence: list[float | None] = [None] * len(texts)
        todo = [i for i, h in enumerate(hints) if not h]
        if todo:
            found = self.language_routing.decide([texts[i] for i in todo], self.routes)
            for k, i in enumerate(todo):
                langs[i], detected[i], confidence[i] = found.langs[k], found.detected[k], found.confidence[k]
        return RoutingDecision(tuple(langs), tuple(detected), tuple(confidence))

    def _stated(self, code: str) -> str:
        lang = normalize_lang(code)
        return lang if lang in self.routes else UND

    def predict_proba_routed(self, texts: Sequence[str], langs: LangHints = None) -> tuple[np.ndarray, list[str]]:
        """Probabilities over :attr:`labels` (input order) and the language whose model answered each text."""
        routing = self.route(texts, langs)
        return self.predict_proba(texts, routing), list(routing.langs)

    def predict_proba(self, texts: Sequence[str], routing: RoutingDecision | None = None) -> np.ndarray:
        """Probabilities over :attr:`labels`: each text answered by its language's model (routed here when
        ``routing`` is None), in input order.

        Raises:
            RuntimeLoadError: ``routing`` covers another number of texts.
        """
        if routing is None:
            routing = self.route(texts)
        elif len(routing) != len(texts):
            raise RuntimeLoadError(f"Got a routing for {len(routing)} texts with {len(texts)} texts.")
        proba = np.zeros((len(texts), len(self._labels)), dtype=np.float64)
        groups: dict[str, list[int]] = {}
        for i, lang in enumerate(routing.langs):
            groups.setdefault(self.routes.get(lang, self.fallback_path), []).append(i)
        for target, rows in groups.items():
            part = np.asarray(self._models[target].predict_proba([texts[i] for i in rows]), dtype=np.float64)
            proba[np.ix_(np.asarray(rows, dtype=np.intp), self._columns[target])] = part
        return proba


def sub_bundle_paths(bundle: Bundle | Path | str) -> dict[str, Path]:
    """``{lang: sub-bundle folder, ..., "fallback": folder}`` of a model set (for tools that need the parts)."""
    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle)
    routing = read_routing(bundle)
    paths = {normalize_lang(lang): bundle.path / str(target) for lang, target in routing["routes"].items()}
    paths["fallback"] = bundle.path / str(routing["fallback"])
    return paths


__all__ = [
    "ROUTING_FILE",
    "ROUTING_VERSION",
    "RouterPredictor",
    "read_routing",
    "sub_bundle_paths",
]
