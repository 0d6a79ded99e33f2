"""The team registry: the ``Registry`` interface over an MLflow tracking server's model registry.

Where things live on the server (``registry.mlflow_uri``, else ``MLFLOW_TRACKING_URI``):

- **Models and versions** are MLflow registered models and their model versions (MLflow's integer versions).
  A registered model created by nlpops carries the tag ``nlpops.registry=1``; models without it (registered
  by other tools) are not listed and are refused by name.
- **Bundles**: ``register`` verifies the bundle, logs a verified copy as the artifacts (``bundle/``) of one run
  in the experiment ``nlpops-bundles``, then creates a model version from that run's artifact path. The
  manifest's facts (bundle version, family, runtime, labels, languages, metrics, the sha256 of the manifest)
  are model-version tags ``nlpops.*``, so listing needs no download.
- **Aliases** are MLflow registered-model aliases (MLflow >= 2.3); MLflow reserves ``latest`` and ``v<N>``.
- **Events** (registered, promoted, rolled back; actor, time, previous version) are runs in the experiment
  ``nlpops-registry-events``, one per event, never overwritten; an alias's rollback history is replayed from
  them, with the same semantics as the SQLite backend (see :mod:`nlpops.registry._mlflow_events`).
- **Attachments** (e.g. the saved profile) are JSON artifacts of the version's run, stored under their own
  sha256 (``attachments/<key>/<sha256>.json``), with the model-version tag ``nlpops.attachment.<key>`` naming
  the current one: a save never half-overwrites what another client reads.

``get`` and ``resolve`` return a local bundle directory: the version is downloaded once into
``<registry.home>/mlflow-cache/`` and verified before it is used (see :mod:`nlpops.registry._mlflow_cache`);
``list_versions`` and ``register`` name that folder without downloading. MLflow has no transactions: an alias
moved by two clients at the same moment ends where the last one put it (both moves are logged), and an alias
moved outside nlpops (in the MLflow UI) is followed by serving but is not in the rollback history.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlpops.bundle import MANIFEST_NAME, BundleManifest, load_bundle, sha256_file
from nlpops.errors import RegistryError
from nlpops.registry._artifacts import discard, stage_bundle
from nlpops.registry._mlflow_cache import BundleCache
from nlpops.registry._mlflow_client import MlflowServer
from nlpops.registry._mlflow_events import EventLog
from nlpops.registry._mlflow_models import ModelIndex
from nlpops.registry._mlflow_records import (
    MANIFEST_SHA256_TAG,
    MODEL_TAG,
    attachment_tag,
    record,
    run_id_of,
    version_tags,
)
from nlpops.registry._not_found import no_alias, no_model
from nlpops.registry._sqlite_records import dump_json, load_json
from nlpops.registry.base import (
    DEFAULT_ALIAS,
    Action,
    ModelVersion,
    RegistryEvent,
    check_alias,
    check_attachment_key,
    check_model_name,
    check_version,
    is_alias,
    is_model_name,
    version_number,
)
from nlpops.registry.sqlite import current_user

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion as MlflowVersion

BUNDLES_EXPERIMENT = "nlpops-bundles"
BUNDLE_PATH = "bundle"
_READY_TIMEOUT_S = 300.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MlflowRegistry:
    """The registry over an MLflow tracking server: same interface and semantics as the SQLite one.

    Args:
        tracking_uri: the MLflow tracking URI, e.g. ``http://mlflow.internal:5000``.
        home: the local registry folder; downloaded bundles are cached under ``home/mlflow-cache/``.
        actor: who is recorded in ``created_by`` and events; defaults to the OS user.
        clock: returns the current time (UTC); tests may pass a fixed clock.

    Raises:
        ConfigError: mlflow is not installed (``pip install "nlpops[mlflow]"``).
    """

    def __init__(
        self,
        tracking_uri: str,
        home: Path | str,
        *,
        actor: str | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._server = MlflowServer(tracking_uri)
        self._client = self._server.client
        self._actor = actor if actor is not None else current_user()
        self._clock = clock
        self._cache = BundleCache(Path(home), tracking_uri)
        self._events = EventLog(self._server, self._actor, clock)
        self._models = ModelIndex(self._server)

    def __repr__(self) -> str:
        return f"MlflowRegistry({self.location!r})"

    @property
    def location(self) -> str:
        """The tracking URI (without credentials)."""
        return self._server.location

    # -- writes -----------------------------------------------------------------------------------

    def register(self, bundle_dir: Path | str, name: str | None = None) -> ModelVersion:
        """Verify a bundle, upload a verified copy, and record it as the next MLflow version of ``name``.

        Args:
            bundle_dir: the bundle directory to register.
            name: the model name; defaults to the manifest's ``name``.

        Returns:
            The new version (its ``bundle_path`` is the local cached copy).

        Raises:
            BundleError: the bundle is missing, malformed or fails verification (nothing is uploaded).
            RegistryError: invalid name, a name clash, or the server failed.
        """
        bundle = load_bundle(bundle_dir)
        name = check_model_name(bundle.manifest.name if name is None else name)
        staging, stored = stage_bundle(bundle, self._cache.root)
        try:
            manifest = stored.manifest
            manifest_sha256 = sha256_file(staging / MANIFEST_NAME)
            self._models.ensure(name)
            created = self._upload(name, staging, manifest, manifest_sha256)
            version = int(created.version)
            try:
                self._events.append("registered", name, version)
            except RegistryError as exc:
                raise RegistryError(
                    f"{name}:{version} was registered on MLflow at {self.location}, but its event could not be "
                    f"logged: {exc} The version is usable, but `nlpops registry log` will not show its registration."
                ) from exc
            # The cache only saves a download later; a failure here must not fail a registration that happened.
            try:
                path = self._cache.place(staging, name, version, manifest_sha256)
            except RegistryError:
                path = self._cache.path(name, version)
        finally:
            discard(staging)
        return record(created, path, dict(manifest.metrics))

    def promote(self, name: str, version: int, alias: str = DEFAULT_ALIAS) -> RegistryEvent:
        """Point ``alias`` of model ``name`` at ``version``, remembering its previous target for rollback.

        Args:
            name: the model name.
            version: an existing version of the model.
            alias: the alias to move (``[a-z][a-z0-9_-]*``, not ``latest`` or ``v<N>``), ``production`` by default.

        Returns:
            The ``promoted`` event.

        Raises:
            RegistryError: invalid or MLflow-reserved alias, invalid version number, or the server failed.
            NotFoundError: unknown model or version.
        """
        check_alias(alias)
        check_version(version, name)
        self._refuse_reserved(alias)
        self._models.version(name, version)
        previous = self.alias_target(name, alias)
        self._move_alias(name, alias, version)
        return self._log_or_undo("promoted", name, version, alias, previous)

    def rollback(self, name: str, alias: str = DEFAULT_ALIAS) -> RegistryEvent:
        """Move ``alias`` back to the target it had before its last move; repeat to go further back.

        Args:
            name: the model name.
            alias: the alias to roll back, ``production`` by default.

        Returns:
            The ``rolled_back`` event (``version`` is the restored target, ``previous_version`` the one left).

        Raises:
            NotFoundError: unknown model, or the model has no such alias.
            RegistryError: the alias has no earlier target to roll back to, or the server failed.
        """
        check_alias(alias)
        current = self.alias_target(name, alias)
        if current is None:
            self._models.model(name)
            raise no_alias(name, alias, self._models.latest(name))
        history = self._events.alias_history(name, alias)
        if not history:
            raise RegistryError(
                f'Alias "{alias}" of model "{name}" has nothing to roll back to: it has pointed at version '
                f"{current} since it was first promoted. Promote another version instead: "
                f"nlpops registry promote {name} VERSION --alias {alias}"
            )
        self._move_alias(name, alias, history[-1])
        return self._log_or_undo("rolled_back", name, history[-1], alias, current)

    def save_attachment(self, name: str, version: int, key: str, data: dict[str, Any]) -> None:
        """Store a JSON object beside a version under ``key`` (replacing any previous one).

        Args:
            name: the model name.
            version: an existing version.
            key: the attachment key, e.g. ``"profile"``.
            data: a JSON-serializable dict.

        Raises:
            RegistryError: invalid key, data that is not a JSON object, or the server failed.
            NotFoundError: unknown model or version.
        """
        check_attachment_key(key)
        check_version(version, name)
        if not isinstance(data, dict):
            raise RegistryError(f'Attachment "{key}" must be a dict (a JSON object), got {type(data).__name__}.')
        text = dump_json(data, f'attachment "{key}"')
        entity = self._models.version(name, version)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        with self._cache.scratch() as folder:
            file = folder / f"{digest}.json"
            file.write_text(text, encoding="utf-8")
            with self._server.call(f'uploading attachment "{key}" of {name}:{version}'):
                self._client.log_artifact(run_id_of(entity), str(file), f"attachments/{key}")
        with self._server.call(f'recording attachment "{key}" of {name}:{version}'):
            self._client.set_model_version_tag(name, str(version), attachment_tag(key), digest)

    # -- reads ------------------------------------------------------------------------------------

    def list_models(self) -> list[str]:
        """Names of all models registered through nlpops (with at least one version), sorted."""
        return self._models.names()

    def list_versions(self, name: str) -> list[ModelVersion]:
        """All versions of a model, oldest first (``bundle_path`` is where :meth:`get` puts the local copy).

        Raises:
            NotFoundError: no model with that name.
        """
        self._models.model(name)
        versions = self._models.versions(name)
        if not versions:
            raise no_model(name, self.location, self.list_models())
        return [record(v, self._cache.path(name, int(v.version))) for v in versions]

    def get(self, name: str, version: int) -> ModelVersion:
        """One version of a model, downloaded (once) and verified locally.

        Raises:
            RegistryError: the version is not a whole number >= 1, or the server failed.
            NotFoundError: unknown model or version.
            BundleError: the downloaded bundle fails verification.
        """
        check_version(version, name)
        entity = self._models.version(name, version)
        tags = entity.tags

        def download(folder: Path) -> Path:
            with self._server.call(f"downloading {name}:{version}"):
                return Path(self._client.download_artifacts(run_id_of(entity), BUNDLE_PATH, str(folder)))

        path, manifest = self._cache.fetch(
            name, version, tags[MANIFEST_SHA256_TAG], download, f"MLflow at {self.location}"
        )
        return record(entity, path, dict(manifest.metrics))

    def aliases(self, name: str) -> dict[str, int]:
        """The aliases of a model and the versions they point at.

        Raises:
            NotFoundError: no model with that name.
        """
        model = self._models.model(name)
        return {alias: int(version) for alias, version in sorted(model.aliases.items())}

    def alias_target(self, name: str, alias: str) -> int | None:
        """The version an alias points at, or None (unknown model or alias): a cheap poll for serving.

        Raises:
            RegistryError: the server cannot be reached.
        """
        if not is_model_name(name) or not is_alias(alias):
            return None
        model = self._models.lookup(name)
        if model is None or MODEL_TAG not in model.tags or alias not in model.aliases:
            return None
        return int(model.aliases[alias])

    def resolve(self, name: str, alias_or_version: str) -> ModelVersion:
        """The version an alias (``"production"``) or a version number (``"3"``) designates, downloaded locally.

        Raises:
            RegistryError: the text is neither a version number nor a valid alias, or the server failed.
            NotFoundError: unknown model, version or alias.
            BundleError: the downloaded bundle fails verification.
        """
        text = str(alias_or_version).strip()
        number = version_number(text, name)
        if number is not None:
            return self.get(name, number)
        check_alias(text)
        target = self.alias_target(name, text)
        if target is None:
            self._models.model(name)
            raise no_alias(name, text, self._models.latest(name))
        return self.get(name, target)

    def events(self, name: str | None = None, limit: int | None = None) -> list[RegistryEvent]:
        """The event log, oldest first; ``limit`` keeps the most recent ``limit`` events.

        Raises:
            RegistryError: ``limit`` is negative, or the server failed.
        """
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise RegistryError(f"limit must be a whole number >= 0 or None, got {limit!r}.")
        found = [e for e in self._events.all() if name is None or e.name == name]
        return found if limit is None else found[len(found) - limit :]

    def load_attachment(self, name: str, version: int, key: str) -> dict[str, Any] | None:
        """The JSON object stored under ``key`` beside a version, or None if there is none.

        Raises:
            NotFoundError: unknown model or version.
            RegistryError: the stored attachment is damaged, or the server failed.
        """
        check_attachment_key(key)
        check_version(version, name)
        entity = self._models.version(name, version)
        digest = entity.tags.get(attachment_tag(key))
        if digest is None:
            return None
        what = f'attachment "{key}" of {name}:{version} on MLflow at {self.location}'
        with self._cache.scratch() as folder:
            with self._server.call(f'downloading attachment "{key}" of {name}:{version}'):
                file = self._client.download_artifacts(
                    run_id_of(entity), f"attachments/{key}/{digest}.json", str(folder)
                )
            text = Path(file).read_text(encoding="utf-8")
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != digest:
            raise RegistryError(f"The stored {what} does not match its checksum (damaged or changed). Save it again.")
        return load_json(text, what)

    # -- helpers ----------------------------------------------------------------------------------

    def _now(self) -> str:
        return self._clock().astimezone(UTC).isoformat(timespec="milliseconds")

    def _upload(self, name: str, folder: Path, manifest: BundleManifest, manifest_sha256: str) -> MlflowVersion:
        """Log ``folder`` as a run's ``bundle/`` artifacts and create the model version from it."""
        experiment_id = self._server.experiment_id(
            BUNDLES_EXPERIMENT, create=True, purpose="the registered bundles (one run per version)"
        )
        assert experiment_id is not None
        run_tags = {"nlpops.model": name, "nlpops.bundle_version": manifest.version, "mlflow.user": self._actor}
        doing = f'uploading bundle "{manifest.name}" ({manifest.version}) as model "{name}"'
        with self._server.call(doing):
            run = self._client.create_run(experiment_id, tags=run_tags, run_name=f"{name} {manifest.version}")
        run_id = run.info.run_id
        try:
            with self._server.call(doing):
                self._client.log_artifacts(run_id, str(folder), BUNDLE_PATH)
                created = self._client.create_model_version(
                    name,
                    f"{run.info.artifact_uri}/{BUNDLE_PATH}",
                    run_id=run_id,
                    tags=version_tags(manifest, manifest_sha256, self._now(), self._actor),
                    await_creation_for=0,
                )
        except RegistryError:
            # The run stays (MLflow never deletes by itself); marking it failed tells people it holds no version.
            with suppress(RegistryError), self._server.call("marking the upload run as failed"):
                self._client.set_terminated(run_id, "FAILED")
            raise
        with suppress(RegistryError), self._server.call("finishing the upload run"):
            self._client.set_terminated(run_id, "FINISHED")  # cosmetic: the version exists already
        return self._await_ready(created)

    def _await_ready(self, created: MlflowVersion) -> MlflowVersion:
        """Wait for a registry that creates versions asynchronously (MLflow's own servers are ready at once)."""
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while created.status == "PENDING_REGISTRATION" and time.monotonic() < deadline:
            time.sleep(0.5)
            with self._server.call(f"waiting for {created.name}:{created.version}"):
                created = self._client.get_model_version(created.name, created.version)
        if created.status != "READY":
            raise RegistryError(
                f"MLflow at {self.location} did not make {created.name}:{created.version} ready "
                f"(status {created.status}: {created.status_message or 'no message'}). Check the server's log."
            )
        return created

    def _move_alias(self, name: str, alias: str, version: int) -> None:
        with self._server.call(f'moving alias "{alias}" of "{name}" to version {version}'):
            self._client.set_registered_model_alias(name, alias, str(version))

    def _log_or_undo(self, action: Action, name: str, version: int, alias: str, previous: int | None) -> RegistryEvent:
        """Log an alias move; if the log cannot be written, put the alias back so log and alias agree."""
        try:
            return self._events.append(action, name, version, alias, previous)
        except RegistryError:
            try:
                with self._server.call(f'restoring alias "{alias}" of "{name}"'):
                    if previous is None:
                        self._client.delete_registered_model_alias(name, alias)
                    else:
                        self._client.set_registered_model_alias(name, alias, str(previous))
            except RegistryError as exc:
                raise RegistryError(
                    f'Alias "{alias}" of "{name}" now points at version {version}, but the event log could not be '
                    f"written and the alias could not be put back ({exc}). Check {self.location}, then promote "
                    "the version you want."
                ) from exc
            raise

    def _refuse_reserved(self, alias: str) -> None:
        if alias == "latest" or (alias[:1] == "v" and alias[1:].isdecimal()):
            raise RegistryError(
                f'Alias "{alias}" is reserved by MLflow ("latest" and "v<N>" name versions there). '
                'Use another alias, e.g. "production", "staging" or "canary".'
            )


__all__ = ["BUNDLES_EXPERIMENT", "MlflowRegistry"]
