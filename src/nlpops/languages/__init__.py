"""Languages: detection, training strategies (per-language, multilingual, auto), model sets and routing.

Detection and the routing runtime live in ``nlpops.runtimes`` (``langid``, ``router``), to the left of this
package, so that loading a model set needs nothing from here; this package trains and compares.
"""

from __future__ import annotations

from nlpops.languages.compare import LanguageComparison, compare_languages
from nlpops.languages.detection import choose_detection, routing_figures
from nlpops.languages.modelset import FALLBACK, MODELSET_FAMILY, build_model_set, is_model_set
from nlpops.languages.scoring import recommend_strategy, score_model_set, strategy_figures
from nlpops.languages.strategies import (
    STRATEGIES,
    LanguagePlan,
    choose_strategy,
    plan_languages,
    train_by_language,
    with_languages,
)
from nlpops.runtimes.langid import UND, LanguageDetector, normalize_lang
from nlpops.runtimes.router import RouterPredictor, sub_bundle_paths

__all__ = [
    "FALLBACK",
    "MODELSET_FAMILY",
    "STRATEGIES",
    "UND",
    "LanguageComparison",
    "LanguageDetector",
    "LanguagePlan",
    "RouterPredictor",
    "build_model_set",
    "choose_detection",
    "choose_strategy",
    "compare_languages",
    "is_model_set",
    "normalize_lang",
    "plan_languages",
    "recommend_strategy",
    "routing_figures",
    "score_model_set",
    "strategy_figures",
    "sub_bundle_paths",
    "train_by_language",
    "with_languages",
]
