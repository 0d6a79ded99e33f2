"""Route paths with parameters: ``/v2/models/{model}/versions/{version}/infer``.

The core looks a request's path up among the exact paths first, then tries the templates in table order.
A template's parameters name a model: ``{model}`` (its name) and ``{version}`` (its version); the core
answers 404 unless they name the live model (:meth:`nlpops.serve.core.ServingCore.select_model`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

PathParams = dict[str, str]
"""What a path template matched: parameter name → path segment."""
MODEL_PARAMS = frozenset({"model", "version"})
"""The path parameters a template may hold: ``{model}`` (the model's name) and ``{version}`` (its version)."""


@dataclass(frozen=True)
class PathTemplate:
    """A route path with ``{param}`` segments, each matching one non-empty path segment.

    Args:
        parts: the path's segments; a ``{name}`` segment is a parameter.
    """

    parts: tuple[str, ...]

    @classmethod
    def parse(cls, path: str) -> PathTemplate:
        """The template of ``path`` (``/v2/models/{model}/infer``).

        Raises:
            ValueError: a parameter other than :data:`MODEL_PARAMS`, or one twice (a bug in the route table).
        """
        parts = tuple(path.split("/"))
        names = [part[1:-1] for part in parts if part.startswith("{") and part.endswith("}")]
        if not set(names) <= MODEL_PARAMS or len(set(names)) != len(names) or "model" not in names:
            raise ValueError(f"Route {path}: a template names {{model}} (and may name {{version}}), each once.")
        return cls(parts)

    def match(self, path: str) -> PathParams | None:
        """The parameters if ``path`` matches, else None."""
        segments = path.split("/")
        if len(segments) != len(self.parts):
            return None
        params: PathParams = {}
        for part, segment in zip(self.parts, segments, strict=True):
            if part.startswith("{"):
                if not segment:
                    return None
                params[part[1:-1]] = segment
            elif part != segment:
                return None
        return params


def match_template(templates: Sequence[tuple[PathTemplate, T]], path: str) -> tuple[T | None, PathParams | None]:
    """The first ``(template, value)`` whose template matches ``path``: ``(value, params)``, else ``(None, None)``."""
    for template, value in templates:
        params = template.match(path)
        if params is not None:
            return value, params
    return None, None


__all__ = ["MODEL_PARAMS", "PathParams", "PathTemplate", "match_template"]
