"""Plain values that travel between the ports: no I/O, no Azure imports.

One name per idea, used everywhere (code, logs, docs):

* ``message_id`` — the MQ MsgId in lower-case hex; also the Service Bus ``MessageId`` and the
  idempotency record's id.
* ``session_id`` — the statement's account (Service Bus session; order is kept per session).
* ``epoch`` — the region lease's epoch (fencing token) when the message was ingested or claimed.
* ``sequence`` — the ingest sequence ``n`` within ``epoch``; ``(epoch, sequence)`` orders a session.
* ``delivery_key`` — derived from ``message_id`` only (:func:`delivery_key_for`), so every redelivery
  of one message carries the same key and the receiver can drop a repeat.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

REGIONS = ("DC04", "DC06")


def delivery_key_for(message_id: str) -> str:
    """Return the delivery key of ``message_id``: 48 hex digits (24 bytes, the size of an MQ MsgId).

    Deterministic, so a redelivery after a crash reuses the key and MessageWay's own duplicate check
    (MsgId) or the folder outbox (file name) drops the repeat.
    """
    return hashlib.sha256(b"delivery:" + message_id.encode("ascii")).hexdigest()[:48]


def peer_region(region: str) -> str:
    """The other region of the pair."""
    return REGIONS[1] if region == REGIONS[0] else REGIONS[0]


@dataclass(frozen=True, order=True)
class IngestPosition:
    """Where a message stands in ingest order: epoch first, then the sequence within it."""

    epoch: int
    sequence: int


@dataclass(frozen=True)
class Lease:
    """The authority's record of the one active region (Cosmos item ``control/gate``).

    ``active_dc`` holds the lease of ``epoch`` until ``lease_until`` and may start work at
    ``not_before`` (a transfer's start waits for the previous holder's lease plus a clock-skew margin).
    ``at``/``reason``/``by``/``previous_dc`` describe the change that began ``epoch`` (the last
    failover); ``renewed_at`` the holder's last renewal. ``etag`` is the store's version for the next
    compare-and-set (empty on a record that was never stored). docs/protocols.md, "One active region".
    """

    active_dc: str
    epoch: int
    lease_until: datetime
    not_before: datetime
    at: datetime
    reason: str
    by: str
    previous_dc: str | None = None
    renewed_at: datetime | None = None
    etag: str = ""

    @property
    def holder(self) -> str:
        """The region that holds the lease (the active one)."""
        return self.active_dc

    @classmethod
    def first(cls, active_dc: str, *, now: datetime, lease_s: float, by: str = "watchdog") -> Lease:
        """The lease a never-initialised authority starts with: epoch 1, valid from ``now``."""
        return cls(
            active_dc=active_dc,
            epoch=1,
            lease_until=now + timedelta(seconds=lease_s),
            not_before=now,
            at=now,
            reason="initialised from the region's configured role",
            by=by,
            renewed_at=now,
        )

    def renewed(self, until: datetime, now: datetime) -> Lease:
        """The same epoch held until ``until``; a renewal never shortens the lease."""
        return replace(self, lease_until=max(self.lease_until, until), renewed_at=now, etag="")

    def transferred(
        self, to: str, *, reason: str, by: str, now: datetime, lease_s: float, skew_s: float
    ) -> Lease:
        """Epoch + 1 for ``to``: it may start at ``max(now, lease_until + skew_s)`` (the old holder's
        fences have all closed by then, whatever the clocks' skew up to ``skew_s``) and holds the
        lease ``lease_s`` beyond that start."""
        start = max(now, self.lease_until + timedelta(seconds=skew_s))
        return Lease(
            active_dc=to,
            epoch=self.epoch + 1,
            lease_until=start + timedelta(seconds=lease_s),
            not_before=start,
            at=now,
            reason=reason,
            by=by,
            previous_dc=self.active_dc,
            renewed_at=now,
        )

    def allows(self, region: str, now: datetime, guard_s: float) -> bool:
        """Whether ``region`` may start new work at ``now``: it holds the lease, its start has come and
        the lease has more than ``guard_s`` left (in-flight work finishes before the lease ends)."""
        return self.active_dc == region and self.not_before <= now < self.lease_until - timedelta(
            seconds=guard_s
        )

    def expired(self, now: datetime, skew_s: float) -> bool:
        """The lease has ended by ``now`` even on a clock ``skew_s`` behind the holder's."""
        return now >= self.lease_until + timedelta(seconds=skew_s)


def parse_time(value: object, name: str = "time") -> datetime:
    """An ISO 8601 time written by the bridge; ``TypeError``/``ValueError`` naming ``name`` otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected an ISO 8601 time, got {type(value).__name__}")
    return datetime.fromisoformat(value)


def lease_fields(lease: Lease) -> dict[str, object]:
    """``lease`` as JSON fields (times in ISO 8601): the Cosmos item's and the Redis mirror's body."""
    return {
        "activeDc": lease.active_dc,
        "epoch": lease.epoch,
        "leaseUntil": lease.lease_until.isoformat(),
        "notBefore": lease.not_before.isoformat(),
        "at": lease.at.isoformat(),
        "reason": lease.reason,
        "by": lease.by,
        "previousDc": lease.previous_dc,
        "renewedAt": None if lease.renewed_at is None else lease.renewed_at.isoformat(),
    }


def lease_from_fields(fields: Mapping[str, object], etag: str = "") -> Lease:
    """The :class:`Lease` written by :func:`lease_fields`; ``KeyError``/``ValueError``/``TypeError``
    when a field is missing or malformed."""

    def when(name: str) -> datetime:
        return parse_time(fields[name], name)

    previous, renewed = fields.get("previousDc"), fields.get("renewedAt")
    return Lease(
        active_dc=str(fields["activeDc"]),
        epoch=int(str(fields["epoch"])),
        lease_until=when("leaseUntil"),
        not_before=when("notBefore"),
        at=when("at"),
        reason=str(fields["reason"]),
        by=str(fields["by"]),
        previous_dc=None if previous is None else str(previous),
        renewed_at=None if renewed is None else when("renewedAt"),
        etag=etag,
    )


@dataclass(frozen=True)
class GateView:
    """What a region's Redis mirror holds: the authority's lease as last seen by that region's
    Watchdog, and the epoch that region has finished activating in (``None``: none yet)."""

    lease: Lease
    activated_epoch: int | None = None

    def allows(self, region: str, now: datetime, guard_s: float) -> bool:
        """The fence's rule: ``region`` holds the lease, has activated in its epoch, and is within
        ``[not_before, lease_until - guard_s)``."""
        return self.activated_epoch == self.lease.epoch and self.lease.allows(region, now, guard_s)


@dataclass(frozen=True)
class Activation:
    """``region`` finished activating in ``epoch`` at ``at`` (replayed ``replayed`` WAL entries)."""

    region: str
    epoch: int
    at: datetime
    replayed: int = 0


@dataclass(frozen=True)
class ProbeResult:
    """One health probe's outcome: ``ok``, how long it took, and a one-line detail or error."""

    name: str
    ok: bool
    ms: float | None = None
    detail: str = ""


#: The component name of the QueueBuilder's heartbeat (its last run, for the Watchdog's probe).
QUEUE_BUILDER = "queue_builder"
#: The component name of the QueueBuilder's last failed run (a dependency gave up).
QUEUE_BUILDER_FAILED = "queue_builder_failed"


@dataclass(frozen=True)
class Heartbeat:
    """``component`` of ``region`` was alive at ``at`` (healthy or not); upserted on every run.

    The Watchdog's beat carries its probes; the QueueBuilder's carries its last run's ``summary``.
    """

    region: str
    component: str
    at: datetime
    healthy: bool
    summary: str = ""
    probes: tuple[ProbeResult, ...] = ()

    def age_s(self, now: datetime) -> float:
        return (now - self.at).total_seconds()


@dataclass(frozen=True)
class MqMessage:
    """One message got from MQ under syncpoint (not yet committed)."""

    message_id: str  # MsgId, hex
    body: bytes
    backout_count: int = 0
    put_time: datetime | None = None


@dataclass(frozen=True)
class WalLocator:
    """Where one statement's body lies in the WAL: ``size`` bytes at ``offset`` of segment ``segment``,
    whose SHA-256 is ``sha256`` (a ranged read checks it). Travels on the Service Bus message."""

    segment: str
    offset: int
    size: int
    sha256: str


@dataclass(frozen=True)
class WalEntry:
    """One record of a WAL segment: one ingested MQ message (an entry of the segment's index)."""

    segment: str
    offset: int
    size: int
    sha256: str
    message_id: str
    session_id: str
    epoch: int
    sequence: int
    region: str
    ingested_at: datetime

    @property
    def position(self) -> IngestPosition:
        return IngestPosition(self.epoch, self.sequence)

    @property
    def locator(self) -> WalLocator:
        return WalLocator(self.segment, self.offset, self.size, self.sha256)


@dataclass(frozen=True)
class SegmentInfo:
    """What a WAL listing says of one segment without reading it (the blob's name and metadata).

    ``name`` is :func:`segment_name`: epoch-major, so name order is ingest order across epochs, and
    neither a clock step nor a sequence that restarts in a new epoch sorts a later segment before an
    earlier checkpoint. ``index_end`` is where the bodies start (header and index before it).
    """

    name: str
    region: str
    epoch: int
    first_sequence: int
    last_sequence: int
    count: int
    size: int
    index_end: int
    written_at: datetime


@dataclass(frozen=True)
class WalSegment:
    """One create-only WAL blob per MQ unit of work: its info and its index (one entry per message,
    in ingest order). The bodies are in the blob after ``info.index_end``, read by
    :meth:`~shared.ports.WriteAheadLog.read_entry`."""

    info: SegmentInfo
    entries: tuple[WalEntry, ...]

    @property
    def name(self) -> str:
        return self.info.name


def segment_name(epoch: int, first_sequence: int, region: str, unique: str) -> str:
    """The WAL segment's blob name: ``{epoch:010d}/{first_sequence:012d}-{region}-{unique}``.

    Epoch-major then sequence (the order of ingest); ``unique`` (random, chosen once per unit of work
    and kept through its retries) makes the name unique even if a sequence were handed out twice.
    """
    return f"{epoch:010d}/{first_sequence:012d}-{region}-{unique}"


@dataclass(frozen=True)
class OutboundStatement:
    """What QueueBuilder publishes to Service Bus (one message per MQ message)."""

    message_id: str
    session_id: str
    body: bytes
    wal: WalLocator
    epoch: int
    sequence: int
    region: str

    @property
    def wal_name(self) -> str:
        """The WAL segment that holds this statement."""
        return self.wal.segment

    @classmethod
    def from_wal(cls, entry: WalEntry, body: bytes) -> OutboundStatement:
        """The message for a WAL entry: ingest and replay send exactly the same thing."""
        return cls(
            message_id=entry.message_id,
            session_id=entry.session_id,
            body=body,
            wal=entry.locator,
            epoch=entry.epoch,
            sequence=entry.sequence,
            region=entry.region,
        )


@dataclass(frozen=True)
class InboundStatement:
    """What the runner receives from Service Bus, already turned into plain values.

    ``body`` is ``None`` when the message travelled by claim check: the runner then reads it from the
    WAL at ``wal`` (a ranged read of its segment, checked against ``wal.sha256``).
    """

    message_id: str
    session_id: str
    body: bytes | None
    wal: WalLocator
    epoch: int
    sequence: int
    region: str
    delivery_count: int = 1
    enqueued_at: datetime | None = None
    claim_check: bool = False

    @property
    def wal_name(self) -> str:
        """The WAL segment that holds this statement."""
        return self.wal.segment

    @property
    def position(self) -> IngestPosition:
        return IngestPosition(self.epoch, self.sequence)


class RecordState(enum.StrEnum):
    """States of an idempotency record; DELIVERED and FAILED are final."""

    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"

    @property
    def final(self) -> bool:
        return self is not RecordState.PENDING


@dataclass(frozen=True)
class ClaimRecord:
    """One message's idempotency record (a Cosmos DB item keyed by ``message_id``)."""

    message_id: str
    session_id: str
    state: RecordState
    region: str
    epoch: int
    delivery_key: str
    lease_until: datetime
    etag: str
    wal_name: str = ""
    sequence: int = 0
    attempts: int = 1
    reason: str | None = None
    updated_at: datetime | None = None
    details: dict[str, str] = field(default_factory=dict)
    body_sha256: str = ""  # SHA-256 (hex) of the claimed body; "" = not known (records before #14)

    def lease_expired(self, now: datetime) -> bool:
        return self.state is RecordState.PENDING and now >= self.lease_until

    def other_body(self, body_sha256: str) -> bool:
        """Whether this record was claimed for another body than one hashing to ``body_sha256``: the MQ
        MsgId was reused (a record without a hash, or a caller without one, cannot tell: ``False``)."""
        return bool(self.body_sha256 and body_sha256) and self.body_sha256 != body_sha256


def reused_message_id(message_id: str, body_sha256: str) -> str:
    """The id a message is recorded under when its MsgId was already used for another body:
    ``<message id>-reused-<first 16 hex digits of its SHA-256>`` (64 bits: distinct bodies under one
    MsgId never share it in practice; the same body always maps to the same id, so a redelivery finds
    its own record)."""
    return f"{message_id}-reused-{body_sha256[:16]}"


@dataclass(frozen=True)
class Checkpoint:
    """A named position saved at ``at`` (a durable item: :class:`~shared.ports.CheckpointStore`).

    For a replay *walk* (:mod:`watchdog.replay`), ``key`` names the walk and ``position`` is its resume
    point: the next page lists the WAL segments strictly after that name (``""``: from the first one).
    The walk's safe watermark is ``final_through``: every record of every segment named up to and
    including it had a final record when examined, and a final record never changes back, so a later
    walk may start there. It stops moving (``blocked``) at the first segment with a record examined
    without a final record, because a republished record is not delivered yet. ``done``: the walk
    reached its end (the last listed segment or its ``older_than`` cutoff).
    """

    key: str
    position: str
    at: datetime
    final_through: str = ""
    blocked: bool = False
    done: bool = False
