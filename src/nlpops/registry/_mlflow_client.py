"""The MLflow client behind :class:`~nlpops.registry.mlflow.MlflowRegistry`: lazy import, quiet settings, errors.

mlflow is an optional extra, imported only when an MLflow registry is opened. Before the first import this
module sets MLflow's environment so that it sends nothing anywhere but the configured tracking URI and keeps
nlpops' stdout clean:

- ``MLFLOW_DISABLE_TELEMETRY=true`` (forced: MLflow 3 otherwise reports usage to its vendor);
- ``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT=true`` (forced: nlpops prints JSON on stdout);
- ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false``, ``MLFLOW_HTTP_REQUEST_MAX_RETRIES=3`` and
  ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=1`` unless already set (MLflow's own defaults retry an unreachable
  server for about four minutes before saying so).

Every call to the server goes through :meth:`MlflowServer.call`, which turns MLflow and network exceptions
into :class:`~nlpops.errors.RegistryError` (:class:`~nlpops.errors.NotFoundError` for a missing object),
chained with ``from``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from nlpops.errors import ConfigError, NotFoundError, RegistryError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

_FORCED_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
_DEFAULT_ENV = {
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
PAGE_SIZE = 1000
_MAX_DETAIL_CHARS = 300
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"')]+)")

NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"
ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class _Page(Protocol[T_co]):
    """What MLflow's ``PagedList`` offers: iteration and the next page's token."""

    token: str | None

    def __iter__(self) -> Iterator[T_co]: ...


def quiet_mlflow_environment() -> None:
    """Set MLflow's environment so it never phones home, prints nothing on stdout and fails fast."""
    os.environ.update(_FORCED_ENV)
    for key, value in _DEFAULT_ENV.items():
        os.environ.setdefault(key, value)
    # mlflow decides about telemetry when it is first imported; if someone imported it before us, ask again.
    with suppress(ImportError, AttributeError):
        from mlflow.telemetry import set_telemetry_client

        set_telemetry_client()  # type: ignore[no-untyped-call]  # mlflow leaves it unannotated


def redact(uri: str) -> str:
    """The URI without any ``user:password@`` part, for messages."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _detail(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0].rstrip(". ") if str(exc).strip() else type(exc).__name__
    return text if len(text) <= _MAX_DETAIL_CHARS else text[: _MAX_DETAIL_CHARS - 3] + "..."


class MlflowServer:
    """One MLflow tracking server: the client, where it is (for messages), and error translation.

    Args:
        uri: the tracking URI (``http://host:5000``, ``https://...``, ``databricks``, ``sqlite:///...``).

    Raises:
        ConfigError: mlflow is not installed.
    """

    def __init__(self, uri: str) -> None:
        quiet_mlflow_environment()
        try:
            import requests
            from mlflow.exceptions import MlflowException, RestException
            from mlflow.tracking import MlflowClient
        except ImportError as exc:
            raise ConfigError(
                'The "mlflow" registry backend needs the mlflow client, which is not installed. '
                'Run: pip install "nlpops[mlflow]"'
            ) from exc
        self.uri = uri
        self.location = redact(uri)
        self.client: MlflowClient = MlflowClient(tracking_uri=uri, registry_uri=uri)
        self._mlflow_error: type[Exception] = MlflowException
        self._rest_error: type[Exception] = RestException
        self._network_error: type[Exception] = requests.RequestException

    @contextmanager
    def call(self, doing: str, *, ignore: tuple[str, ...] = ()) -> Iterator[None]:
        """Run MLflow calls, translating their failures into nlpops errors.

        Args:
            doing: what the block does, for messages ("reading model intent").
            ignore: MLflow error codes to swallow (e.g. ``RESOURCE_ALREADY_EXISTS`` for a create that may race).

        Raises:
            NotFoundError: the server says the object does not exist.
            RegistryError: the server refused or failed, or could not be reached.
        """
        try:
            yield
        except (self._mlflow_error, OSError) as exc:
            if self.error_code(exc) in ignore:
                return
            raise self.translate(exc, doing) from exc

    def error_code(self, exc: BaseException) -> str | None:
        """MLflow's error code of a server answer (``RESOURCE_DOES_NOT_EXIST``...), None for anything else."""
        if isinstance(exc, self._rest_error):
            code = getattr(exc, "error_code", None)
            return code if isinstance(code, str) else None
        return None

    def translate(self, exc: BaseException, doing: str) -> RegistryError:
        """The nlpops error that explains an MLflow or network failure while ``doing``."""
        where = f"the MLflow tracking server at {self.location}"
        code = self.error_code(exc)
        if code == NOT_FOUND:
            return NotFoundError(f"Not found on {where} while {doing}: {_detail(exc)}.")
        if code in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
            return RegistryError(
                f"{where[0].upper()}{where[1:]} refused {doing} ({_detail(exc)}). Check the credentials nlpops "
                "runs with: MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD."
            )
        if code is not None:
            return RegistryError(
                f"{where[0].upper()}{where[1:]} failed {doing}: {_detail(exc)}. Retry; if it persists, check the "
                "server's log."
            )
        if isinstance(exc, self._network_error) or (
            isinstance(exc, self._mlflow_error) and str(exc).startswith("API request to")
        ):
            reason = _ERRNO.search(str(exc))
            why = reason.group(1).strip() if reason else _detail(exc)
            return RegistryError(
                f"Cannot reach {where} while {doing} ({why}). Check that the server is running and that "
                "registry.mlflow_uri in nlpops.yaml (or NLPOPS_REGISTRY__MLFLOW_URI, or MLFLOW_TRACKING_URI) "
                "points at it, then retry."
            )
        if isinstance(exc, OSError):
            return RegistryError(
                f"A local file operation failed while {doing}: {_detail(exc)}. Check free space and permissions "
                "of the registry folder (registry.home or NLPOPS_HOME)."
            )
        return RegistryError(
            f"The MLflow client failed {doing} on {self.location}: {_detail(exc)}. Check that the server and its "
            "artifact store are healthy, then retry."
        )

    def pages(self, fetch: Callable[[str | None], _Page[T]]) -> list[T]:
        """Every item of a paged MLflow search: ``fetch(page_token)`` returns one page."""
        items: list[T] = []
        token: str | None = None
        while True:
            page = fetch(token)
            items.extend(page)
            token = page.token
            if not token:
                return items

    def experiment_id(self, name: str, *, create: bool, purpose: str) -> str | None:
        """The id of experiment ``name``; created when ``create`` (else None when it does not exist).

        Raises:
            RegistryError: the experiment is deleted, or the server fails.
        """
        with self.call(f'reading experiment "{name}"'):
            found = self.client.get_experiment_by_name(name)
        if found is None and create:
            with self.call(f'creating experiment "{name}"', ignore=(ALREADY_EXISTS,)):
                self.client.create_experiment(name, tags={"nlpops.purpose": purpose})
            # read it back: another client may have created it at the same moment
            with self.call(f'reading experiment "{name}"'):
                found = self.client.get_experiment_by_name(name)
        if found is None:
            return None
        if found.lifecycle_stage == "deleted":
            raise RegistryError(
                f'The MLflow experiment "{name}" on {self.location} is deleted, and nlpops keeps {purpose} there. '
                f"Restore it: mlflow experiments restore --experiment-id {found.experiment_id}"
            )
        experiment_id: str = found.experiment_id
        return experiment_id


__all__ = ["ALREADY_EXISTS", "NOT_FOUND", "PAGE_SIZE", "MlflowServer", "quiet_mlflow_environment", "redact"]
