"""The idempotency records in Azure Cosmos DB (SQL API, azure-cosmos 4.17): :class:`CosmosIdempotencyStore`.

One item per message, ``id`` = message id, partition key ``/id`` (every operation is a single-item
operation in its own logical partition). Field names are the item's JSON names::

    id, sessionId, state, region, epoch, deliveryKey, leaseUntil (ISO 8601), walName, sequence,
    attempts, reason, updatedAt (ISO 8601), details, bodySha256
    (+ the service's _etag → ClaimRecord.etag)

* ``claim`` is Create Document: a second create of the same id answers 409 → ``AlreadyExists``.
* ``take_over``/``mark_delivered``/``mark_failed`` are Replace Document with ``If-Match: <etag>``
  (Cosmos REST "Optimistic concurrency control"): 412 → ``PreconditionFailed``, 404 → ``NotFound``.
* ``counts`` is five ``SELECT VALUE COUNT(1)`` queries (cross-partition, served from the index on
  ``state``, ``updatedAt``, ``attempts`` and ``leaseUntil``; a few RU each, for the status route).
* ``failed_since`` and ``claimed_before`` are one ``SELECT TOP @limit … WHERE c.state = … ORDER BY
  c.state, c.updatedAt`` query each (the status page's live lists), served by the composite indexes
  ``(state, updatedAt)`` of :data:`INDEXING_POLICY`: the equality filter's property leads the ORDER BY,
  so the query reads only that state's newest (or oldest) entries instead of every record of the window
  ("Queries with a filter and ORDER BY": https://learn.microsoft.com/azure/cosmos-db/index-policy#composite-indexes).
  The policy is in infra/modules/cosmos.bicep; locally the adapter creates the container with it.
* ``lookup`` is the SDK's ReadMany, ``ContainerProxy.read_items`` (azure-cosmos 4.17:
  https://learn.microsoft.com/en-us/python/api/azure-cosmos/azure.cosmos.containerproxy#azure-cosmos-containerproxy-read-items):
  "a batched point-read operation", which the SDK runs as one query per physical partition (at most
  1000 ids each, in parallel) and as a point read for a single id; missing ids are left out. The local
  ``cosmosdb-server`` answers it too (tests/contracts/test_idempotency_contract.py).

docs/storage.md explains the consistency level these records need and what a regional failover of
the Cosmos account does to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from azure.core import MatchConditions
from azure.cosmos import ContainerProxy

from shared.adapters.azure_errors import azure_errors
from shared.adapters.cosmos_client import CosmosContainer, CosmosOptions, parse_connection_string
from shared.adapters.cosmos_client import iso as _iso
from shared.errors import NotFound, PermanentError
from shared.model import ClaimRecord, RecordState
from shared.ports import IdempotencyStore, refuse_stale_epoch
from shared.settings import Connection

__all__ = ["CosmosIdempotencyStore", "CosmosOptions", "UnreadableRecord", "parse_connection_string"]

_WHAT = "idempotency record"

#: The records container's indexing policy: every path (the default), plus the composite indexes the
#: live lists' ``ORDER BY c.state, c.updatedAt`` need (Cosmos refuses a multi-property ORDER BY
#: without one). infra/modules/cosmos.bicep declares the same; tests/infra checks that they agree.
INDEXING_POLICY: dict[str, Any] = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/*"}],
    "excludedPaths": [{"path": '/"_etag"/?'}],
    "compositeIndexes": [
        [{"path": "/state", "order": "ascending"}, {"path": "/updatedAt", "order": "ascending"}],
        [{"path": "/state", "order": "descending"}, {"path": "/updatedAt", "order": "descending"}],
    ],
}


def _item(record: ClaimRecord, updated_at: datetime) -> dict[str, Any]:
    return {
        "id": record.message_id,
        "sessionId": record.session_id,
        "state": record.state.value,
        "region": record.region,
        "epoch": record.epoch,
        "deliveryKey": record.delivery_key,
        "leaseUntil": _iso(record.lease_until),
        "walName": record.wal_name,
        "sequence": record.sequence,
        "attempts": record.attempts,
        "reason": record.reason,
        "updatedAt": _iso(updated_at),
        "details": dict(record.details),
        "bodySha256": record.body_sha256,
    }


class UnreadableRecord(PermanentError):
    """An item in the records container that is not a valid record (written outside the bridge)."""

    reason = "idempotency-record-unreadable"

    def __init__(self, message_id: str, detail: str) -> None:
        super().__init__(f"idempotency record {message_id!r} is unreadable: {detail}")
        self.message_id = message_id


def record_from_item(item: Mapping[str, Any]) -> ClaimRecord:
    """The :class:`ClaimRecord` stored as ``item`` (``_etag`` becomes ``etag``)."""
    try:
        return _record(item)
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        raise UnreadableRecord(str(item.get("id")), f"{type(error).__name__}: {error}") from error


def _record(item: Mapping[str, Any]) -> ClaimRecord:
    updated = item.get("updatedAt")
    return ClaimRecord(
        message_id=item["id"],
        session_id=item["sessionId"],
        state=RecordState(item["state"]),
        region=item["region"],
        epoch=int(item["epoch"]),
        delivery_key=item["deliveryKey"],
        lease_until=datetime.fromisoformat(item["leaseUntil"]),
        etag=item["_etag"],
        wal_name=item.get("walName", ""),
        sequence=int(item.get("sequence", 0)),
        attempts=int(item.get("attempts", 1)),
        reason=item.get("reason"),
        updated_at=datetime.fromisoformat(updated) if updated else None,
        details={str(k): str(v) for k, v in (item.get("details") or {}).items()},
        body_sha256=str(item.get("bodySha256") or ""),
    )


class CosmosIdempotencyStore(IdempotencyStore):
    """:class:`~shared.ports.IdempotencyStore` on ``database``/``container`` of one Cosmos account.

    ``connection``: a local ``AccountEndpoint=…;AccountKey=…`` string (the database and container are
    then created on first use), or the account's ``accountEndpoint`` used with
    ``DefaultAzureCredential`` (role *Cosmos DB Built-in Data Contributor*; data-plane RBAC cannot
    create databases or containers, so the infrastructure creates them with partition key ``/id``).
    """

    def __init__(
        self,
        connection: Connection,
        database: str,
        container: str,
        options: CosmosOptions | None = None,
    ) -> None:
        self._cosmos = CosmosContainer(connection, database, container, options, INDEXING_POLICY)
        self.options = self._cosmos.options

    @classmethod
    def on_container(
        cls, items: ContainerProxy, options: CosmosOptions | None = None
    ) -> CosmosIdempotencyStore:
        """A store on an existing container client (one ``CosmosClient`` shared by the app; tests)."""
        store = cls(Connection("CosmosConnection"), "", "", options)
        store._cosmos = CosmosContainer.on(items, options)
        return store

    def _items(self) -> ContainerProxy:
        return self._cosmos.items()

    def claim(
        self,
        *,
        message_id: str,
        session_id: str,
        region: str,
        epoch: int,
        delivery_key: str,
        lease_until: datetime,
        wal_name: str,
        sequence: int,
        body_sha256: str = "",
    ) -> ClaimRecord:
        """Create the ``PENDING`` record (Create Document); ``AlreadyExists`` on 409."""
        now = datetime.now(UTC)
        draft = ClaimRecord(
            message_id=message_id,
            session_id=session_id,
            state=RecordState.PENDING,
            region=region,
            epoch=epoch,
            delivery_key=delivery_key,
            lease_until=lease_until,
            etag="",
            wal_name=wal_name,
            sequence=sequence,
            body_sha256=body_sha256,
        )
        items = self._items()
        with azure_errors("cosmos", _WHAT, message_id, write=True):
            created = items.create_item(_item(draft, now))
        return record_from_item(created)

    def get(self, message_id: str) -> ClaimRecord | None:
        """Point read; ``None`` on 404 (a 500 is ``ServiceUnavailable``, never "missing")."""
        items = self._items()
        try:
            with azure_errors("cosmos", _WHAT, message_id):
                item = items.read_item(message_id, partition_key=message_id)
        except NotFound:
            return None
        return record_from_item(item)

    def _replace(self, record: ClaimRecord, updated: ClaimRecord) -> ClaimRecord:
        items = self._items()
        with azure_errors("cosmos", _WHAT, record.message_id, write=True):
            stored = items.replace_item(
                record.message_id,
                _item(updated, datetime.now(UTC)),
                etag=record.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        return record_from_item(stored)

    def take_over(
        self, record: ClaimRecord, *, region: str, epoch: int, lease_until: datetime
    ) -> ClaimRecord:
        """Re-claim for ``region``/``epoch`` with a new lease, ``attempts`` + 1, If-Match ``record.etag``;
        ``StaleEpoch`` (no write) for an epoch below the record's (the ETag makes the check atomic)."""
        refuse_stale_epoch(record, region, epoch)
        attempts = record.attempts + 1
        return self._replace(
            record, replace(record, region=region, epoch=epoch, lease_until=lease_until, attempts=attempts)
        )

    def mark_delivered(self, record: ClaimRecord, details: Mapping[str, str]) -> ClaimRecord:
        """``DELIVERED`` with ``details``, If-Match ``record.etag``."""
        return self._replace(record, replace(record, state=RecordState.DELIVERED, details=dict(details)))

    def mark_failed(self, record: ClaimRecord, reason: str, details: Mapping[str, str]) -> ClaimRecord:
        """``FAILED`` with ``reason`` and ``details``, If-Match ``record.etag``."""
        return self._replace(
            record, replace(record, state=RecordState.FAILED, reason=reason, details=dict(details))
        )

    def lookup(self, message_ids: Iterable[str]) -> dict[str, ClaimRecord]:
        """Records of ``message_ids`` by ReadMany (``read_items``, chunks of ``lookup_chunk``); ids
        without a record are absent."""
        wanted = list(dict.fromkeys(message_ids))
        found: dict[str, ClaimRecord] = {}
        items = self._items() if wanted else None
        chunk = max(1, self.options.lookup_chunk)
        for start in range(0, len(wanted), chunk):
            ids = wanted[start : start + chunk]
            assert items is not None
            with azure_errors("cosmos", _WHAT, f"{len(ids)} ids from {ids[0]}"):
                for item in items.read_items([(message_id, message_id) for message_id in ids]):
                    found[item["id"]] = record_from_item(item)
        return found

    def failed_since(self, since: datetime, limit: int) -> list[ClaimRecord]:
        """FAILED records updated at or after ``since``, newest first (one ``TOP`` query)."""
        return self._listing(
            "c.state = 'FAILED' AND c.updatedAt >= @at ORDER BY c.state DESC, c.updatedAt DESC", since, limit
        )

    def claimed_before(self, before: datetime, limit: int) -> list[ClaimRecord]:
        """PENDING records last claimed or taken over before ``before``, oldest first (one ``TOP`` query)."""
        return self._listing(
            "c.state = 'PENDING' AND c.updatedAt < @at ORDER BY c.state ASC, c.updatedAt ASC", before, limit
        )

    def _listing(self, condition: str, at: datetime, limit: int) -> list[ClaimRecord]:
        query = f"SELECT TOP @limit * FROM c WHERE {condition}"  # noqa: S608 - constant filters
        parameters: list[dict[str, object]] = [
            {"name": "@limit", "value": max(0, int(limit))},
            {"name": "@at", "value": _iso(at)},
        ]
        items = self._items()
        with azure_errors("cosmos", "record listing", condition.split(" ORDER", maxsplit=1)[0]):
            pages = items.query_items(query, parameters=parameters, enable_cross_partition_query=True)
            return [record_from_item(item) for item in pages][:limit]

    #: ``counts``: name -> filter; ``@since``/``@now`` are ISO 8601 UTC strings, which order as times.
    _COUNTS: ClassVar[dict[str, str]] = {
        "delivered": "c.state = 'DELIVERED' AND c.updatedAt >= @since",
        "failed": "c.state = 'FAILED' AND c.updatedAt >= @since",
        "pending": "c.state = 'PENDING' AND c.updatedAt >= @since",
        "in_doubt": "c.attempts > 1 AND c.updatedAt >= @since",
        "lease_expired": "c.state = 'PENDING' AND c.leaseUntil < @now",
    }

    def counts(self, since: datetime, now: datetime) -> dict[str, int]:
        """Record counts (:meth:`IdempotencyStore.counts`), one ``COUNT`` query each."""
        items = self._items()
        values = {"@since": _iso(since), "@now": _iso(now)}
        found = {}
        for name, condition in self._COUNTS.items():
            query = f"SELECT VALUE COUNT(1) FROM c WHERE {condition}"  # noqa: S608 - constant filters
            parameters: list[dict[str, object]] = [
                {"name": key, "value": value} for key, value in values.items() if key in condition
            ]
            with azure_errors("cosmos", "record counts", name):
                pages = items.query_items(query, parameters=parameters, enable_cross_partition_query=True)
                found[name] = sum(int(str(count)) for count in pages)
        return found
