"""Redis adapter of :class:`shared.ports.GateMirror`: one region's fast-path copy of the gate.

Never the authority (that is the Cosmos region lease, :mod:`shared.adapters.cosmos_control`). One
key per region, ``{prefix}gate:mirror:<region>``, holding a JSON document::

    {"lease": {activeDc, epoch, leaseUntil, notBefore, at, reason, by, previousDc, renewedAt},
     "activatedEpoch": 7 | null}

written with a plain ``SET`` by that region's Watchdog only, read by that region's fences. Azure
Managed Redis active geo-replication merges the regions' instances with conflict-free replicated data
types: concurrent writes to one string key resolve last-writer-wins, so a key shared by both regions
could hold the other region's view; a key per region is written by one region only and never merges
with anything (https://learn.microsoft.com/en-us/azure/redis/how-to-active-geo-replication). A stale
or replicated-late mirror cannot open a fence early: the lease carries absolute times
(:mod:`shared.gate_cache`).

Connection (:meth:`RedisGateMirror.from_connection`, setting ``RedisConnection``): locally a Redis
URL (``redis://127.0.0.1:17002/0``); in Azure ``RedisConnection__host`` =
``<name>.<region>.redis.azure.net[:port]`` (TLS, port 10000 unless given), Microsoft Entra ID
authentication (:mod:`.redis_auth`). Every Redis error becomes ``ServiceUnavailable("redis", ...)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import redis
from azure.core.exceptions import AzureError
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.adapters.redis_auth import AZURE_REDIS_PORT, EntraIdCredentialProvider
from shared.errors import ServiceUnavailable
from shared.model import GateView, lease_fields, lease_from_fields
from shared.ports import GateMirror
from shared.settings import Connection

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

DEFAULT_TIMEOUT_S = 1.0


@contextmanager
def _redis_errors(operation: str) -> Iterator[None]:
    try:
        yield
    except redis.RedisError as error:
        raise ServiceUnavailable("redis", f"{operation}: {type(error).__name__}: {error}") from error
    except OSError as error:
        raise ServiceUnavailable("redis", f"{operation}: {error}") from error
    except AzureError as error:  # the managed identity could not get a token
        raise ServiceUnavailable("redis", f"{operation}: authentication: {error}") from error


def _client_options(timeout_s: float) -> dict[str, Any]:
    """Short timeouts, no client-side retries (the fence fails closed and the Watchdog retries)."""
    return {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": True,
    }


class RedisGateMirror(GateMirror):
    """:class:`~shared.ports.GateMirror` of ``region``: one JSON string at ``{prefix}gate:mirror:<region>``.

    One key per region, written only by that region's Watchdog (plain ``SET``): with Azure Managed
    Redis active geo-replication the two instances merge a string last-writer-wins, so a shared key
    could carry the other region's view; a key per region never can. Every Redis error becomes
    ``ServiceUnavailable`` and the fences fail closed.
    """

    def __init__(
        self,
        client: redis.Redis,
        region: str,
        prefix: str = "bridge:",
        credentials: EntraIdCredentialProvider | None = None,
    ) -> None:
        self._client = client
        self.region = region
        self.key = f"{prefix}gate:mirror:{region}"
        self._credentials = credentials
        self._generation = credentials.generation if credentials else 0

    @classmethod
    def from_connection(
        cls,
        connection: Connection,
        region: str,
        prefix: str = "bridge:",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        credential: TokenCredential | None = None,
    ) -> RedisGateMirror:
        """A URL in ``RedisConnection`` (local), or ``RedisConnection__host`` with Entra ID (Azure)."""
        if connection.connection_string:
            client = redis.Redis.from_url(connection.connection_string, **_client_options(timeout_s))
            return cls(client, region, prefix)
        host, _, port = (connection.endpoint or "").rpartition(":")
        if not port.isdigit():
            host, port = connection.endpoint or "", str(AZURE_REDIS_PORT)
        credentials = EntraIdCredentialProvider(credential)
        client = redis.Redis(
            host=host, port=int(port), ssl=True, credential_provider=credentials, **_client_options(timeout_s)
        )
        return cls(client, region, prefix, credentials)

    def publish(self, view: GateView) -> None:
        body = json.dumps({"lease": lease_fields(view.lease), "activatedEpoch": view.activated_epoch})
        with self._errors("publish"):
            self._client.set(self.key, body)

    def read(self) -> GateView | None:
        with self._errors("read"):
            raw = self._client.get(self.key)
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
            activated = doc.get("activatedEpoch")
            return GateView(lease_from_fields(doc["lease"]), None if activated is None else int(activated))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            # Fails closed: the fence refuses until the Watchdog publishes a readable view again.
            raise ServiceUnavailable("redis", f"gate mirror {self.key} unreadable: {error}") from error

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        with _redis_errors(f"gate mirror {operation}"):
            if self._credentials is not None:
                self._credentials.token()  # renews ahead of expiry (cached otherwise)
                if self._credentials.generation != self._generation:
                    self._generation = self._credentials.generation
                    self._client.connection_pool.disconnect()  # reconnect with the new token
            yield
