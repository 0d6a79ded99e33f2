"""MLflow model versions to registry records (:class:`ModelVersion`) and bundle manifests to model-version tags.

A version registered through nlpops carries its bundle's facts as tags ``nlpops.*``: the bundle version,
family, runtime, labels, languages, metrics, the data fingerprint, who registered it and when, and the
sha256 of the manifest (what a download is checked against). MLflow servers before 2.x's tag migration cap a
tag value at 5000 characters, so long values are shortened: metrics keep their top-level numbers (the full
metrics are in the bundle's manifest), labels are left out (their count stays).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlpops.bundle import BundleManifest
from nlpops.errors import RegistryError
from nlpops.registry._sqlite_records import dump_json, load_json
from nlpops.registry.base import ModelVersion

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion as MlflowVersion

MODEL_TAG = "nlpops.registry"
PREFIX = "nlpops."
MANIFEST_SHA256_TAG = f"{PREFIX}manifest_sha256"
_REQUIRED = ("bundle_version", "family", "runtime", "created_at", "created_by", "manifest_sha256")
_MAX_TAG_CHARS = 4000


def attachment_tag(key: str) -> str:
    """The model-version tag that names the current JSON artifact of attachment ``key``."""
    return f"{PREFIX}attachment.{key}"


def _fits(value: Any) -> str | None:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= _MAX_TAG_CHARS else None


def _metrics_tag(metrics: dict[str, Any], what: str) -> str:
    text = dump_json(metrics, what)
    if len(text) <= _MAX_TAG_CHARS:
        return text
    flat = {k: v for k, v in metrics.items() if isinstance(v, str | int | float | bool) or v is None}
    return _fits(flat) or "{}"


def version_tags(manifest: BundleManifest, manifest_sha256: str, created_at: str, actor: str) -> dict[str, str]:
    """The model-version tags that record a bundle's manifest, and who registered it when.

    Raises:
        RegistryError: the metrics cannot be stored as JSON.
    """
    tags = {
        "bundle_version": manifest.version,
        "bundle_name": manifest.name,
        "family": manifest.family,
        "runtime": manifest.runtime,
        "schema_version": str(manifest.schema_version),
        "nlpops_version": manifest.nlpops_version,
        "manifest_sha256": manifest_sha256,
        "created_at": created_at,
        "created_by": actor,
        "metrics": _metrics_tag(dict(manifest.metrics), f'metrics of bundle "{manifest.name}"'),
        "languages": json.dumps(manifest.languages),
        "n_labels": str(len(manifest.labels)),
    }
    labels = _fits(manifest.labels)
    if labels is not None:
        tags["labels"] = labels
    if manifest.data is not None:
        tags["data_sha256"] = manifest.data.sha256
    return {f"{PREFIX}{key}": value for key, value in tags.items()}


def is_bundle_version(entity: MlflowVersion) -> bool:
    """Whether an MLflow model version was registered through nlpops (it has the bundle tags and a run)."""
    return entity.run_id is not None and all(f"{PREFIX}{key}" in entity.tags for key in _REQUIRED)


def run_id_of(entity: MlflowVersion) -> str:
    """The run holding a version's artifacts.

    Raises:
        RegistryError: the version has no run (it was not registered through nlpops).
    """
    if entity.run_id is None:
        raise RegistryError(f"MLflow version {entity.name}:{entity.version} has no run, so it holds no nlpops bundle.")
    return entity.run_id


def record(entity: MlflowVersion, path: Path, metrics: dict[str, Any] | None = None) -> ModelVersion:
    """The registry record of an nlpops model version; ``metrics`` default to the (maybe shortened) tag."""
    tags = entity.tags
    if metrics is None:
        metrics = load_json(tags.get(f"{PREFIX}metrics", "{}"), f"metrics of {entity.name}:{entity.version}")
    return ModelVersion(
        name=entity.name,
        version=int(entity.version),
        bundle_path=path,
        bundle_version=tags[f"{PREFIX}bundle_version"],
        family=tags[f"{PREFIX}family"],
        runtime=tags[f"{PREFIX}runtime"],
        created_at=tags[f"{PREFIX}created_at"],
        created_by=tags[f"{PREFIX}created_by"],
        metrics=metrics,
    )


__all__ = [
    "MANIFEST_SHA256_TAG",
    "MODEL_TAG",
    "attachment_tag",
    "is_bundle_version",
    "record",
    "run_id_of",
    "version_tags",
]
