"""The control plane in Azure Cosmos DB: the region lease, ingest sequences, checkpoints, heartbeats.

All live in one container (``COSMOS_CONTROL_CONTAINER``, default ``control``, partition key ``/id``) of
the account that holds the idempotency records: single write region, Strong consistency
(docs/storage.md). Every item is its own logical partition, so every operation is a single-item
operation. Item ids and JSON fields::

    gate                               activeDc epoch leaseUntil notBefore at reason by previousDc renewedAt
    sequence:<epoch, 10 digits>        epoch last
    checkpoint:<key>                   position at
    activation:<region>                region epoch at replayed
    heartbeat:<region>:<component>     region component at healthy summary probes[{name ok ms detail}]

* The lease changes only by Replace Document with ``If-Match: <_etag>`` (optimistic concurrency:
  https://learn.microsoft.com/en-us/azure/cosmos-db/nosql/database-transactions-optimistic-concurrency);
  412 (or 404) → ``LeaseLost`` carrying the lease read back. With Strong consistency a read returns
  the most recent committed version ("reads are guaranteed to return the most recent committed
  version of an item": https://learn.microsoft.com/en-us/azure/cosmos-db/consistency-levels), so two
  regions comparing-and-setting one version can never both win.
* A sequence is a compare-and-set increment of ``last`` by ``count`` (create on first use; 409/412 →
  read again and retry, at most :data:`SEQUENCE_ATTEMPTS` times).
* Checkpoints, activations and heartbeats are upserts (last write wins; one writer each).

Errors follow :mod:`shared.adapters.azure_errors`; an item that is not what the bridge wrote raises
:class:`UnreadableControlItem`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.core import MatchConditions

from shared.adapters.azure_errors import azure_errors
from shared.adapters.cosmos_client import CosmosContainer, iso
from shared.errors import (
    AlreadyExists,
    LeaseLost,
    NotFound,
    PermanentError,
    PreconditionFailed,
    ServiceUnavailable,
)
from shared.model import (
    Activation,
    Checkpoint,
    Heartbeat,
    Lease,
    ProbeResult,
    lease_fields,
    lease_from_fields,
    parse_time,
)
from shared.ports import CheckpointStore, Heartbeats, RegionAuthority, SequenceAllocator

GATE_ID = "gate"
#: Compare-and-set attempts of one sequence reservation before giving up (one QueueBuilder per
#: region holds the MQ input, so contention is rare: a retry is a concurrent manual call at most).
SEQUENCE_ATTEMPTS = 20


class UnreadableControlItem(PermanentError):
    """An item of the control container that is not what the bridge wrote."""

    reason = "control-item-unreadable"

    def __init__(self, item_id: str, detail: str) -> None:
        super().__init__(f"control item {item_id!r} is unreadable: {detail}")
        self.item_id = item_id


def _parse(item_id: str, build: Any, item: Mapping[str, Any]) -> Any:
    try:
        return build(item)
    except (KeyError, ValueError, TypeError) as error:
        raise UnreadableControlItem(item_id, f"{type(error).__name__}: {error}") from error


def lease_item(lease: Lease) -> dict[str, Any]:
    return {"id": GATE_ID, "kind": "lease", **lease_fields(lease)}


def lease_from_item(item: Mapping[str, Any]) -> Lease:
    lease: Lease = _parse(GATE_ID, lambda i: lease_from_fields(i, etag=str(i["_etag"])), item)
    return lease


class _ControlItems:
    """Point reads and writes on the control container, errors mapped once."""

    def __init__(self, cosmos: CosmosContainer) -> None:
        self.cosmos = cosmos

    def read(self, item_id: str, what: str) -> dict[str, Any] | None:
        items = self.cosmos.items()
        try:
            with azure_errors("cosmos", what, item_id):
                item: dict[str, Any] = items.read_item(item_id, partition_key=item_id)
        except NotFound:
            return None
        return item

    def upsert(self, body: dict[str, Any], what: str) -> None:
        items = self.cosmos.items()
        with azure_errors("cosmos", what, str(body["id"]), write=True):
            items.upsert_item(body)


class CosmosRegionAuthority(RegionAuthority):
    """:class:`~shared.ports.RegionAuthority` on item ``gate`` of the control container."""

    def __init__(self, cosmos: CosmosContainer) -> None:
        self._control = _ControlItems(cosmos)

    def read(self) -> Lease | None:
        item = self._control.read(GATE_ID, "region lease")
        return None if item is None else lease_from_item(item)

    def create(self, lease: Lease) -> Lease:
        items = self._control.cosmos.items()
        with azure_errors("cosmos", "region lease", GATE_ID, write=True):
            created = items.create_item(lease_item(lease))
        return lease_from_item(created)

    def swap(self, expected: Lease, new: Lease) -> Lease:
        items = self._control.cosmos.items()
        try:
            with azure_errors("cosmos", "region lease", GATE_ID, write=True):
                stored = items.replace_item(
                    GATE_ID,
                    lease_item(new),
                    etag=expected.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (PreconditionFailed, NotFound) as error:
            raise LeaseLost(expected, self._current()) from error
        return lease_from_item(stored)

    def _current(self) -> Lease | None:
        try:
            return self.read()
        except ServiceUnavailable:
            return None


class CosmosSequenceAllocator(SequenceAllocator):
    """:class:`~shared.ports.SequenceAllocator` on items ``sequence:<epoch>`` (compare-and-set)."""

    def __init__(self, cosmos: CosmosContainer) -> None:
        self._control = _ControlItems(cosmos)

    def next(self, epoch: int, count: int = 1) -> int:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        item_id = f"sequence:{epoch:010d}"
        items = self._control.cosmos.items()
        for _ in range(SEQUENCE_ATTEMPTS):
            current = self._control.read(item_id, "ingest sequence")
            try:
                with azure_errors("cosmos", "ingest sequence", item_id, write=True):
                    if current is None:
                        items.create_item({"id": item_id, "kind": "sequence", "epoch": epoch, "last": count})
                        return 1
                    last = int(current["last"])
                    items.replace_item(
                        item_id,
                        {"id": item_id, "kind": "sequence", "epoch": epoch, "last": last + count},
                        etag=current["_etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )
                    return last + 1
            except (AlreadyExists, PreconditionFailed):
                continue  # another reservation won this round: read again
        raise ServiceUnavailable("cosmos", f"{item_id}: {SEQUENCE_ATTEMPTS} compare-and-set attempts lost")


class CosmosCheckpointStore(CheckpointStore):
    """:class:`~shared.ports.CheckpointStore` on items ``checkpoint:<key>`` and ``activation:<region>``."""

    def __init__(self, cosmos: CosmosContainer) -> None:
        self._control = _ControlItems(cosmos)

    def get(self, key: str) -> Checkpoint | None:
        item_id = f"checkpoint:{key}"
        item = self._control.read(item_id, "checkpoint")
        if item is None:
            return None
        checkpoint: Checkpoint = _parse(
            item_id,
            lambda i: Checkpoint(
                key,
                str(i["position"]),
                parse_time(i["at"]),
                final_through=str(i.get("finalThrough") or ""),
                blocked=bool(i.get("blocked", False)),
                done=bool(i.get("done", False)),
            ),
            item,
        )
        return checkpoint

    def put(self, checkpoint: Checkpoint) -> None:
        body = {
            "id": f"checkpoint:{checkpoint.key}",
            "kind": "checkpoint",
            "position": checkpoint.position,
            "at": iso(checkpoint.at),
            "finalThrough": checkpoint.final_through,
            "blocked": checkpoint.blocked,
            "done": checkpoint.done,
        }
        self._control.upsert(body, "checkpoint")

    def activation(self, region: str) -> Activation | None:
        item_id = f"activation:{region}"
        item = self._control.read(item_id, "activation")
        if item is None:
            return None
        activation: Activation = _parse(
            item_id,
            lambda i: Activation(str(i["region"]), int(i["epoch"]), parse_time(i["at"]), int(i["replayed"])),
            item,
        )
        return activation

    def record_activation(self, activation: Activation) -> None:
        body = {
            "id": f"activation:{activation.region}",
            "kind": "activation",
            "region": activation.region,
            "epoch": activation.epoch,
            "at": iso(activation.at),
            "replayed": activation.replayed,
        }
        self._control.upsert(body, "activation")


class CosmosHeartbeats(Heartbeats):
    """:class:`~shared.ports.Heartbeats` on items ``heartbeat:<region>:<component>`` (upserts)."""

    def __init__(self, cosmos: CosmosContainer) -> None:
        self._control = _ControlItems(cosmos)

    def beat(self, heartbeat: Heartbeat) -> None:
        body = {
            "id": f"heartbeat:{heartbeat.region}:{heartbeat.component}",
            "kind": "heartbeat",
            "region": heartbeat.region,
            "component": heartbeat.component,
            "at": iso(heartbeat.at),
            "healthy": heartbeat.healthy,
            "summary": heartbeat.summary,
            "probes": [
                {"name": p.name, "ok": p.ok, "ms": p.ms, "detail": p.detail} for p in heartbeat.probes
            ],
        }
        self._control.upsert(body, "heartbeat")

    def last(self, region: str, component: str) -> Heartbeat | None:
        item_id = f"heartbeat:{region}:{component}"
        item = self._control.read(item_id, "heartbeat")
        if item is None:
            return None

        def build(i: Mapping[str, Any]) -> Heartbeat:
            probes = tuple(
                ProbeResult(str(p["name"]), bool(p["ok"]), p.get("ms"), str(p.get("detail", "")))
                for p in i.get("probes") or ()
            )
            return Heartbeat(
                str(i["region"]),
                str(i["component"]),
                parse_time(i["at"]),
                bool(i["healthy"]),
                str(i.get("summary", "")),
                probes,
            )

        heartbeat: Heartbeat = _parse(item_id, build, item)
        return heartbeat
