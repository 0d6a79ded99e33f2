"""One exception hierarchy for nlpops. Every message says what went wrong and what to do.

::

    NlpopsError                      exit 1, HTTP 500
    ├── ConfigError                  exit 1, HTTP 500  (nlpops.yaml, env vars, flags)
    ├── DataError                    exit 1, HTTP 400  (datasets: files, columns, labels)
    ├── BundleError                  exit 1, HTTP 500  (manifest, checksums, versions)
    │   └── BundleExistsError        exit 1            (the folder to write a bundle to is taken)
    ├── FamilyError                  exit 1, HTTP 500  (training a model family)
    │   └── MissingExtraError        exit 1            (an optional dependency is not installed)
    ├── RuntimeLoadError             exit 1, HTTP 500  (turning a bundle into a Predictor)
    ├── ExportError                  exit 1            (ONNX conversion, parity check)
    ├── PackageError                 exit 1            (nlpops package: a model brought from elsewhere)
    ├── RegistryError                exit 1, HTTP 500
    │   └── NotFoundError            exit 1, HTTP 404  (unknown model, version or alias)
    ├── ServingError                 exit 1, HTTP 500
    │   ├── RequestError             HTTP 400/413/422  (a client sent something wrong)
    │   ├── AuthError                HTTP 401
    │   └── OverloadedError          HTTP 503          (queue full; retry later)
    ├── TaskError                    exit 1, HTTP 409  (a model asked for another task's prediction)
    └── PlanError                    exit 1            (advisor, deploy)

The CLI and the server map these in one handler each; nothing else catches bare ``Exception``. The CLI prints
:meth:`NlpopsError.for_cli`: the message in the command line's terms (flags where the Python API has parameters).
"""

from __future__ import annotations


class NlpopsError(Exception):
    """Base of every error nlpops raises on purpose."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def for_cli(self) -> str:
        """The message as the command line says it (the same unless the advice names a parameter)."""
        return self.message


class ConfigError(NlpopsError):
    """The configuration (nlpops.yaml, NLPOPS_* variables, flags) is invalid."""


class DataError(NlpopsError):
    """A dataset cannot be read or is unusable for training/evaluation."""

    http_status = 400


class BundleError(NlpopsError):
    """A bundle is missing, malformed, tampered with, or of an unsupported format."""


class BundleExistsError(BundleError):
    """The folder a bundle is to be written to exists and is not empty (and overwriting was not asked for)."""

    def __init__(self, path: object) -> None:
        super().__init__(
            f'Bundle folder "{path}" already exists and is not empty. Pass another out (or name), or '
            "overwrite=True to replace it."
        )
        self.path = path

    def for_cli(self) -> str:
        return (
            f'"{self.path}" already exists and is not empty. Choose another --out (or --name), or pass --overwrite '
            "to replace it."
        )


class FamilyError(NlpopsError):
    """A model family failed to train or was misconfigured."""


class MissingExtraError(FamilyError):
    """An optional dependency is not installed; the message names the pip install."""

    @classmethod
    def for_extra(cls, what: str, extra: str, package: str) -> MissingExtraError:
        return cls(f'{what} needs the package "{package}", which is not installed. Run: pip install "nlpops[{extra}]"')


class RuntimeLoadError(NlpopsError):
    """A bundle could not be turned into a Predictor."""


class ExportError(NlpopsError):
    """Exporting a bundle (ONNX conversion, quantization, parity) failed."""


class PackageError(NlpopsError):
    """A model brought from elsewhere cannot be packaged (unknown source, refused file, failed parity)."""


class RegistryError(NlpopsError):
    """The model registry failed or was asked something impossible."""


class NotFoundError(RegistryError):
    """A model, version or alias does not exist."""

    http_status = 404


class ServingError(NlpopsError):
    """The HTTP service failed."""


class RequestError(ServingError):
    """A client request is invalid; ``http_status`` says how (400, 413, 422)."""

    def __init__(self, message: str, http_status: int = 422) -> None:
        super().__init__(message)
        self.http_status = http_status


class AuthError(ServingError):
    """Missing or wrong API key."""

    http_status = 401


class OverloadedError(ServingError):
    """The request queue is full; the client should retry later."""

    http_status = 503


class TaskError(NlpopsError):
    """A model was asked for a prediction its task does not make (entities of a classifier, say), or an
    unknown task was named. A service answers 409: the endpoint does not fit the model it serves."""

    http_status = 409


class PlanError(NlpopsError):
    """The advisor or deploy step got an unusable plan or requirements."""


__all__ = [
    "AuthError",
    "BundleError",
    "BundleExistsError",
    "ConfigError",
    "DataError",
    "ExportError",
    "FamilyError",
    "MissingExtraError",
    "NlpopsError",
    "NotFoundError",
    "OverloadedError",
    "PackageError",
    "PlanError",
    "RegistryError",
    "RequestError",
    "RuntimeLoadError",
    "ServingError",
    "TaskError",
]
