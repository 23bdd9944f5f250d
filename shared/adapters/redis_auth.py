"""Microsoft Entra ID authentication for Azure Managed Redis (the gate's ``RedisConnection__host``).

The password is an access token of ``DefaultAzureCredential`` (the managed identity) for
``https://redis.azure.com/.default``; the user name is the identity's object id, read from the token's
``oid`` claim (https://learn.microsoft.com/azure/redis/entra-for-authentication).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from redis.credentials import CredentialProvider

from shared.errors import ServiceUnavailable

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

REDIS_SCOPE = "https://redis.azure.com/.default"
AZURE_REDIS_PORT = 10000


class EntraIdCredentialProvider(CredentialProvider):
    """redis-py credentials from Microsoft Entra ID: ``(object id, access token)``, refreshed early.

    ``generation`` increases with every new token, so the gate can drop pooled connections that
    authenticated with the previous one before the server closes them at its expiry.
    """

    def __init__(
        self,
        credential: TokenCredential | None = None,
        refresh_margin_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` returns POSIX seconds, as ``AccessToken.expires_on`` does."""
        if credential is None:
            from azure.identity import DefaultAzureCredential  # noqa: PLC0415  (lazy: heavy, Azure-only)

            credential = DefaultAzureCredential()
        self._credential = credential
        self._margin_s = refresh_margin_s
        self._clock = clock
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self.generation = 0

    def get_credentials(self) -> tuple[str, str]:
        token = self.token()
        return object_id(token.token), token.token

    def token(self) -> AccessToken:
        with self._lock:
            if self._token is None or self._token.expires_on - self._margin_s <= self._clock():
                self._token = self._credential.get_token(REDIS_SCOPE)
                self.generation += 1
            return self._token


def object_id(jwt: str) -> str:
    """The ``oid`` claim of an Entra ID access token (read, not verified: the server verifies it)."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["oid"])
    except (IndexError, ValueError, KeyError, TypeError) as error:
        raise ServiceUnavailable("redis", "authentication: access token has no oid claim") from error
