"""Finding models and versions on an MLflow server, with the same "not found" answers as the SQLite backend.

A registered model belongs to nlpops when it carries the tag ``nlpops.registry=1`` (set when nlpops creates
it); models registered by other tools are not listed, and naming one gives a clear error instead of a
half-working bundle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nlpops.errors import NotFoundError, RegistryError
from nlpops.registry._mlflow_client import ALREADY_EXISTS, PAGE_SIZE, MlflowServer
from nlpops.registry._mlflow_records import MODEL_TAG, is_bundle_version
from nlpops.registry._not_found import no_model, no_version
from nlpops.registry.base import is_model_name

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion as MlflowVersion
    from mlflow.entities.model_registry import RegisteredModel


class ModelIndex:
    """Reads (and creates) registered models and their nlpops versions on one MLflow server.

    Args:
        server: the MLflow server.
    """

    def __init__(self, server: MlflowServer) -> None:
        self._server = server
        self._client = server.client

    def names(self) -> list[str]:
        """Names of the nlpops models that have at least one version, sorted."""
        return sorted(m.name for m in self._all() if MODEL_TAG in m.tags and m.latest_versions)

    def lookup(self, name: str) -> RegisteredModel | None:
        """The registered model ``name`` (nlpops' or not), or None."""
        if not is_model_name(name):
            return None
        try:
            with self._server.call(f'reading model "{name}"'):
                return self._client.get_registered_model(name)
        except NotFoundError:
            return None

    def model(self, name: str) -> RegisteredModel:
        """The nlpops model ``name``.

        Raises:
            NotFoundError: no such model. RegistryError: it exists but was not registered through nlpops.
        """
        model = self.lookup(name)
        if model is None:
            raise no_model(name, self._server.location, self.names())
        if MODEL_TAG not in model.tags:
            raise RegistryError(self._foreign(name))
        return model

    def versions(self, name: str) -> list[MlflowVersion]:
        """The nlpops versions of a model, oldest first (versions added by other tools are skipped)."""
        if not is_model_name(name):
            return []
        with self._server.call(f'listing the versions of "{name}"'):
            found = self._server.pages(
                lambda token: self._client.search_model_versions(
                    f"name = '{name}'", max_results=PAGE_SIZE, page_token=token
                )
            )
        return sorted((v for v in found if is_bundle_version(v)), key=lambda v: int(v.version))

    def latest(self, name: str) -> int:
        """The highest nlpops version number of a model (0 when it has none)."""
        versions = self.versions(name)
        return int(versions[-1].version) if versions else 0

    def version(self, name: str, version: int) -> MlflowVersion:
        """The MLflow model version ``name``:``version``.

        Raises:
            NotFoundError: unknown model or version. RegistryError: not registered through nlpops.
        """
        if not is_model_name(name):
            raise no_model(name, self._server.location, self.names())
        try:
            with self._server.call(f"reading {name}:{version}"):
                entity = self._client.get_model_version(name, str(version))
        except NotFoundError as exc:
            self.model(name)
            raise no_version(name, version, self.latest(name)) from exc
        if not is_bundle_version(entity):
            self.model(name)
            raise RegistryError(
                f'Version {version} of model "{name}" on MLflow at {self._server.location} was not registered '
                "through nlpops (it has no bundle tags). Register a bundle: nlpops train --register"
            )
        return entity

    def ensure(self, name: str) -> None:
        """Create the registered model ``name``, or check that an existing one may take nlpops versions.

        Raises:
            RegistryError: the name differs only in case from another model, or names another tool's model.
        """
        models = self._all()
        clash = next((m.name for m in models if m.name.lower() == name.lower() and m.name != name), None)
        if clash is not None:
            raise RegistryError(
                f'Model name "{name}" differs only in case from the registered model "{clash}". '
                f'Use "{clash}" (or a clearly different name).'
            )
        existing = next((m for m in models if m.name == name), None)
        if existing is None:
            with self._server.call(f'creating model "{name}"', ignore=(ALREADY_EXISTS,)):
                self._client.create_registered_model(name, tags={MODEL_TAG: "1"})
        elif MODEL_TAG not in existing.tags:
            if existing.latest_versions:
                raise RegistryError(self._foreign(name))
            with self._server.call(f'tagging model "{name}"'):  # an empty model someone created for nlpops
                self._client.set_registered_model_tag(name, MODEL_TAG, "1")

    def _all(self) -> list[RegisteredModel]:
        with self._server.call("listing registered models"):
            return self._server.pages(
                lambda token: self._client.search_registered_models(max_results=PAGE_SIZE, page_token=token)
            )

    def _foreign(self, name: str) -> str:
        return (
            f'Model "{name}" on MLflow at {self._server.location} was not registered through nlpops (it has no '
            "nlpops bundle). Use another name for nlpops models (--name, or name in nlpops.yaml)."
        )


__all__ = ["ModelIndex"]
