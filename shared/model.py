"""Plain values that travel between the ports: no I/O, no Azure imports.

One name per idea, used everywhere (code, logs, docs):

* ``message_id`` — the MQ MsgId in lower-case hex; also the Service Bus ``MessageId`` and the
  idempotency record's id.
* ``session_id`` — the statement's account (Service Bus session; order is kept per session).
* ``epoch`` — the gate's ``active_epoch`` when the message was ingested or claimed.
* ``sequence`` — the ingest sequence ``n`` within ``epoch``; ``(epoch, sequence)`` orders a session.
* ``delivery_key`` — derived from ``message_id`` only (:func:`delivery_key_for`), so every redelivery
  of one message carries the same key and the receiver can drop a repeat.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from datetime import datetime

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
class GateState:
    """The Redis flag pair: which region is active and the epoch of the last flip."""

    active_dc: str
    epoch: int


@dataclass(frozen=True)
class MqMessage:
    """One message got from MQ under syncpoint (not yet committed)."""

    message_id: str  # MsgId, hex
    body: bytes
    backout_count: int = 0
    put_time: datetime | None = None


@dataclass(frozen=True)
class WalEntry:
    """The write-ahead log's description of one ingested message (the blob's name and metadata).

    ``name`` sorts in ingest order: ``{day}/{epoch:010d}/{sequence:012d}-{message_id}``.
    """

    name: str
    message_id: str
    session_id: str
    epoch: int
    sequence: int
    region: str
    ingested_at: datetime
    sha256: str
    size: int

    @property
    def position(self) -> IngestPosition:
        return IngestPosition(self.epoch, self.sequence)

    @staticmethod
    def name_for(ingested_at: datetime, epoch: int, sequence: int, message_id: str) -> str:
        """The WAL blob name; lexical order = ingest order within a day."""
        return f"{ingested_at:%Y%m%d}/{epoch:010d}/{sequence:012d}-{message_id}"


@dataclass(frozen=True)
class OutboundStatement:
    """What QueueBuilder publishes to Service Bus (one message per MQ message)."""

    message_id: str
    session_id: str
    body: bytes
    wal_name: str
    epoch: int
    sequence: int
    region: str

    @classmethod
    def from_wal(cls, entry: WalEntry, body: bytes) -> OutboundStatement:
        """The message for a WAL entry: ingest and replay send exactly the same thing."""
        return cls(
            message_id=entry.message_id,
            session_id=entry.session_id,
            body=body,
            wal_name=entry.name,
            epoch=entry.epoch,
            sequence=entry.sequence,
            region=entry.region,
        )


@dataclass(frozen=True)
class InboundStatement:
    """What the runner receives from Service Bus, already turned into plain values.

    ``body`` is ``None`` when the message travelled by claim check (``claim_check`` names the WAL blob).
    """

    message_id: str
    session_id: str
    body: bytes | None
    wal_name: str
    epoch: int
    sequence: int
    region: str
    delivery_count: int = 1
    enqueued_at: datetime | None = None
    claim_check: bool = False

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
    point: the next page lists the WAL strictly after that name (``""``: from the first entry). The
    walk's safe watermark is ``final_through``: every entry named up to and including it had a final
    record when examined, and a final record never changes back, so a later walk may start there. It
    stops moving (``blocked``) at the first entry examined without a final record, because a
    republished entry is not delivered yet. ``done``: the walk reached its end (the last listed entry
    or its ``older_than`` cutoff).
    """

    key: str
    position: str
    at: datetime
    final_through: str = ""
    blocked: bool = False
    done: bool = False
