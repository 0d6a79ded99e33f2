"""Deprecated: the Ray Serve front end moved to :mod:`nlpops.serve.ray` (removed in nlpops 0.3).

Ray Serve config files written by older ``nlpops deploy --target ray`` name
``import_path: nlpops.serve_ray:app_builder``; they keep working, with a warning, until then.
"""

from __future__ import annotations

import warnings

from nlpops.serve.ray import DEPLOYMENT_NAME, RayClassifier, app_builder, build_ray_app, serve_ray

warnings.warn(
    "nlpops.serve_ray is deprecated and will be removed in nlpops 0.3: use nlpops.serve.ray instead "
    "(in a Ray Serve config file: import_path: nlpops.serve.ray:app_builder).",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["DEPLOYMENT_NAME", "RayClassifier", "app_builder", "build_ray_app", "serve_ray"]
