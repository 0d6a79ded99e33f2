"""Optional API keys: only their sha256 digests are kept, compared in constant time.

A client sends ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``; when it sends both, both must be valid.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from pydantic import SecretStr

from nlpops.errors import AuthError


class ApiKeys:
    """The accepted API keys, as sha256 digests.

    Args:
        keys: the plain keys (``serving.api_keys``); an empty list turns auth off.
    """

    def __init__(self, keys: Iterable[SecretStr | str]) -> None:
        self._digests = [
            hashlib.sha256((k.get_secret_value() if isinstance(k, SecretStr) else k).encode("utf-8")).digest()
            for k in keys
        ]

    @property
    def enabled(self) -> bool:
        """Whether any key is configured."""
        return bool(self._digests)

    def check(self, headers: Mapping[bytes, bytes]) -> None:
        """Accept the request if it carries a valid key (or if auth is off).

        Args:
            headers: the request headers, lower-case names.

        Raises:
            AuthError: no key, or a key that is not one of the configured ones.
        """
        if not self._digests:
            return
        keys = _presented_keys(headers)
        if not keys:
            raise AuthError(
                "This service needs an API key. Send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'."
            )
        for key in keys:  # fail closed: every key presented must be valid
            digest = hashlib.sha256(key).digest()
            matched = False
            for known in self._digests:  # compare against every key: time does not depend on which one matches
                matched |= hmac.compare_digest(digest, known)
            if not matched:
                raise AuthError("The API key is not valid. Check the key you were given.")


def _presented_keys(headers: Mapping[bytes, bytes]) -> list[bytes]:
    keys = []
    auth = headers.get(b"authorization")
    if auth is not None:
        scheme, _, value = auth.strip().partition(b" ")
        keys.append(value.strip() if scheme.lower() == b"bearer" else b"")  # another scheme: invalid, not absent
    key = headers.get(b"x-api-key")
    if key is not None:
        keys.append(key.strip())
    return keys


__all__ = ["ApiKeys"]
