"""Hard limits of a platform and a runtime together: what makes a runtime impossible on a platform.

A limit is not a preference: a 270 MB image does not fit a 250 MB budget however well it scores. Each limit
is checked for the pair (platform, runtime) with that runtime's own measured sizes:

- the image budget (``dependencies.image_size_budget_mb``) for every platform but functions: the base image +
  the service and runtime packages + the model (embedded, they go into the calling application's image);
- the function package and memory limits of serverless platforms (``settings.serverless_*``): the service and
  runtime packages + the model, and the runtime's peak memory with headroom; functions have no GPU.

A platform on which no available runtime fits is excluded with the reasons; the runtime is then chosen among
those that fit the chosen platform, so platform and runtime never contradict each other.
"""

from __future__ import annotations

from typing import Any

from nlpops.advisor.rules import AdvisorRulesSettings
from nlpops.advisor.runtimes import memory_mb, package_mb

IMAGE_PLATFORMS = ("embedded", "container", "kubernetes", "ray", "managed")


def fit_problems(
    platform: str, runtime: str, entry: dict[str, Any], budget_mb: float, settings: AdvisorRulesSettings
) -> list[str]:
    """Why ``runtime`` (its profile entry) cannot run on ``platform``; empty when it fits.

    Args:
        platform: a platform option.
        runtime: a runtime option.
        entry: the runtime's profile entry (sizes and memory).
        budget_mb: the image budget (``dependencies.image_size_budget_mb``).
        settings: the rules' settings (base image, function limits, memory headroom).
    """
    problems = []
    package = package_mb(entry)
    if platform in IMAGE_PLATFORMS and package is not None:
        image = settings.base_image_mb + package
        if image > budget_mb:
            problems.append(
                f"the {runtime} image would be about {image:.0f} MB (base {settings.base_image_mb:g} + packages and "
                f"model {package:.0f}), over the image budget of {budget_mb:g} MB"
            )
    if platform == "serverless":
        if runtime == "gpu":
            problems.append("serverless functions have no GPU")
        if package is not None and package > settings.serverless_package_limit_mb:
            problems.append(
                f"the {runtime} function package (service, runtime packages and model) would be about "
                f"{package:.0f} MB, over the function limit of {settings.serverless_package_limit_mb:g} MB"
            )
        memory = memory_mb(entry)
        if memory is not None and memory * settings.memory_headroom > settings.serverless_memory_limit_mb:
            problems.append(
                f"the {runtime} runtime needs about {memory * settings.memory_headroom:.0f} MB of memory, over the "
                f"function memory limit of {settings.serverless_memory_limit_mb:g} MB"
            )
    return problems


__all__ = ["IMAGE_PLATFORMS", "fit_problems"]
