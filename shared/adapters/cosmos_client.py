"""One Cosmos DB container client, opened lazily (azure-cosmos 4.17): shared by every Cosmos adapter.

``connection``: a local ``AccountEndpoint=…;AccountKey=…`` string (the database and container are then
created on first use, partition key ``/id``), or the account's ``accountEndpoint`` used with
``DefaultAzureCredential`` (role *Cosmos DB Built-in Data Contributor*; data-plane RBAC cannot create
databases or containers, so the infrastructure creates them: infra/modules/cosmos.bicep).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey

from shared.adapters.azure_errors import azure_errors
from shared.adapters.http_transport import requests_transport
from shared.errors import ConfigurationError
from shared.settings import Connection

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class CosmosOptions:
    """Client tunables. ``timeout_s`` bounds a whole call, the SDK's own retries included.

    ``enable_endpoint_discovery`` ``None`` means: on in Azure, off for a loopback endpoint (the local
    server advertises addresses it does not serve). ``consistency_level`` ``None`` uses the account's.
    """

    connection_timeout_s: float = 2.0
    read_timeout_s: float = 4.0
    timeout_s: float = 8.0
    retry_total: int = 3
    retry_backoff_max_s: int = 2
    lookup_chunk: int = 100
    consistency_level: str | None = None
    preferred_locations: tuple[str, ...] = ()
    enable_endpoint_discovery: bool | None = None
    #: Connections kept open (requests' default is 10): at least the runner's concurrent sessions
    #: (``maxConcurrentSessions`` 16 in host.json, 16 locally) plus the Watchdog's probe.
    connection_pool_size: int = 32


def parse_connection_string(text: str) -> tuple[str, str]:
    """``AccountEndpoint=…;AccountKey=…`` → ``(endpoint, key)``; ``ConfigurationError`` if incomplete."""
    parts = dict(
        (key.strip(), value.strip())
        for key, _, value in (item.partition("=") for item in text.split(";") if item.strip())
    )
    endpoint, key = parts.get("AccountEndpoint"), parts.get("AccountKey")
    if not endpoint or not key:
        raise ConfigurationError(["Cosmos connection string needs AccountEndpoint and AccountKey"])
    return endpoint, key


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC for an aware ``moment`` (a naive one is written as it is)."""
    return moment.astimezone(UTC).isoformat() if moment.tzinfo else moment.isoformat()


class CosmosContainer:
    """``database``/``container`` of one Cosmos account, its client built on first use."""

    def __init__(
        self,
        connection: Connection,
        database: str,
        container: str,
        options: CosmosOptions | None = None,
        indexing_policy: Mapping[str, Any] | None = None,
    ) -> None:
        self.connection = connection
        self.database = database
        self.container = container
        self.options = options or CosmosOptions()
        #: Applied only where this class creates the container (locally); in Azure the same policy
        #: is in infra/modules/cosmos.bicep.
        self.indexing_policy = dict(indexing_policy) if indexing_policy else None
        self._container: ContainerProxy | None = None
        self._lock = threading.Lock()

    @classmethod
    def on(cls, items: ContainerProxy, options: CosmosOptions | None = None) -> CosmosContainer:
        """Wrap an existing container client (one ``CosmosClient`` shared by the app; tests)."""
        database = items.container_link.split("/")[1]
        wrapped = cls(Connection("CosmosConnection"), database, items.id, options)
        wrapped._container = items
        return wrapped

    def _client(self) -> CosmosClient:
        opts = self.options
        credential: Any
        if self.connection.connection_string:
            endpoint, credential = parse_connection_string(self.connection.connection_string)
        elif self.connection.endpoint:
            from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - only in Azure

            endpoint, credential = self.connection.endpoint, DefaultAzureCredential()
        else:
            raise ConfigurationError([f"{self.connection.name}: neither a connection string nor an endpoint"])
        discovery = opts.enable_endpoint_discovery
        if discovery is None:
            discovery = urlsplit(endpoint).hostname not in _LOOPBACK
        kwargs: dict[str, Any] = {
            "connection_timeout": opts.connection_timeout_s,
            "read_timeout": opts.read_timeout_s,
            "timeout": opts.timeout_s,
            "retry_total": opts.retry_total,
            "retry_backoff_max": opts.retry_backoff_max_s,
            "enable_endpoint_discovery": discovery,
            "transport": requests_transport(opts.connection_pool_size),
        }
        if opts.preferred_locations:
            kwargs["preferred_locations"] = list(opts.preferred_locations)
        return CosmosClient(
            endpoint, credential=credential, consistency_level=opts.consistency_level, **kwargs
        )

    def items(self) -> ContainerProxy:
        """The container client (created, locally, with partition key ``/id`` if missing)."""
        with self._lock:
            if self._container is None:
                with azure_errors("cosmos", "container", f"{self.database}/{self.container}"):
                    client = self._client()
                    if self.connection.uses_identity:
                        database = client.get_database_client(self.database)
                        container = database.get_container_client(self.container)
                    else:
                        database = client.create_database_if_not_exists(self.database)
                        container = database.create_container_if_not_exists(
                            self.container,
                            partition_key=PartitionKey(path="/id"),
                            indexing_policy=self.indexing_policy,
                        )
                self._container = container
            return self._container
