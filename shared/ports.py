"""The ports: what the handlers need from the outside world, named by role.

Each port has an Azure (or on-prem) adapter in :mod:`shared.adapters` and an in-memory twin in
:mod:`tests.twins`; both raise the same errors (:mod:`shared.errors`) and both pass the port's
contract suite in ``tests/contracts``. Every driver error is wrapped: a service that cannot be
reached raises :class:`~shared.errors.ServiceUnavailable` (a ``TransientError``) and leaves nothing
half-written.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

from shared.errors import StaleEpoch
from shared.model import (
    Activation,
    Checkpoint,
    ClaimRecord,
    GateView,
    Heartbeat,
    Lease,
    MqMessage,
    OutboundStatement,
    SegmentInfo,
    WalLocator,
    WalSegment,
)


class RegionAuthority(ABC):
    """The one authority on which region is active: a lease with a fencing epoch (Cosmos item
    ``control/gate``), changed only by compare-and-set on the item's ETag.

    Linearizable (Cosmos Strong consistency, single write region): a read after a successful write
    sees it, whichever region reads, and of two compare-and-sets on one version exactly one wins.
    The rules for the new record (epoch, ``not_before``, never shortening) live in
    :class:`~shared.model.Lease`; an adapter only stores and swaps.
    """

    @abstractmethod
    def read(self) -> Lease | None:
        """The lease in force, straight from the store; ``None`` if never initialised."""

    @abstractmethod
    def create(self, lease: Lease) -> Lease:
        """Store the first lease, create-only: ``AlreadyExists`` if any lease exists."""

    @abstractmethod
    def swap(self, expected: Lease, new: Lease) -> Lease:
        """Replace ``expected`` (by its ETag) with ``new``; ``LeaseLost`` carrying the current lease
        when the stored one is no longer ``expected`` (or is gone)."""

    def initialise(self, active_dc: str, lease_s: float, now: datetime) -> Lease:
        """Create the first lease for ``active_dc`` (epoch 1); ``AlreadyExists`` if one exists."""
        return self.create(Lease.first(active_dc, now=now, lease_s=lease_s))

    def renew(self, expected: Lease, until: datetime, now: datetime) -> Lease:
        """The holder extends its lease to ``until`` (never shorter); ``LeaseLost`` if it changed."""
        return self.swap(expected, expected.renewed(until, now))

    def transfer(
        self,
        expected: Lease,
        to: str,
        *,
        reason: str,
        by: str,
        now: datetime,
        lease_s: float,
        skew_s: float,
    ) -> Lease:
        """Give the lease to ``to`` with epoch + 1, starting at ``max(now, expected.lease_until +
        skew_s)`` (:meth:`~shared.model.Lease.transferred`); ``LeaseLost`` if it changed meanwhile."""
        new = expected.transferred(to, reason=reason, by=by, now=now, lease_s=lease_s, skew_s=skew_s)
        return self.swap(expected, new)


class GateMirror(ABC):
    """One region's fast-path copy of the gate (Redis key ``gate:mirror:<region>``), never authority.

    Written by that region's Watchdog after every renewal, transfer or read of the authority; read by
    that region's fences. A key per region, so a last-writer-wins merge between the regions' Redis
    instances (Azure Managed Redis active geo-replication) never puts one region's view into the
    other's key. Losing it makes the fences fail closed.
    """

    @abstractmethod
    def publish(self, view: GateView) -> None:
        """Overwrite the mirror with ``view``."""

    @abstractmethod
    def read(self) -> GateView | None:
        """The last published view; ``None`` if never published."""


class SequenceAllocator(ABC):
    """Ingest sequence numbers per epoch, durable (Cosmos item per epoch, compare-and-set)."""

    @abstractmethod
    def next(self, epoch: int, count: int = 1) -> int:
        """Reserve ``count`` numbers in ``epoch``; return the first (numbers start at 1, no number is
        ever handed out twice, gaps after a failed unit of work are allowed)."""


class CheckpointStore(ABC):
    """Durable progress records of the control plane (Cosmos items): named positions such as the
    replay checkpoint of a region and epoch, and each region's last completed activation."""

    @abstractmethod
    def get(self, key: str) -> Checkpoint | None:
        """The checkpoint saved under ``key``, or ``None``."""

    @abstractmethod
    def put(self, checkpoint: Checkpoint) -> None:
        """Save ``checkpoint`` under its key (last write wins)."""

    @abstractmethod
    def activation(self, region: str) -> Activation | None:
        """``region``'s last completed activation, or ``None``."""

    @abstractmethod
    def record_activation(self, activation: Activation) -> None:
        """Save ``activation`` as its region's last (last write wins)."""


class Heartbeats(ABC):
    """Liveness and health of each region's components (Cosmos items ``heartbeat:<region>:<component>``).

    Advisory: the active region's liveness that decides a promotion is its lease, never a beat.
    """

    @abstractmethod
    def beat(self, heartbeat: Heartbeat) -> None:
        """Upsert ``heartbeat`` (keyed by region and component)."""

    @abstractmethod
    def last(self, region: str, component: str) -> Heartbeat | None:
        """The last beat of ``component`` in ``region``, or ``None``."""


class WriteAheadLog(ABC):
    """Create-only log of every ingested body, one segment per MQ unit of work (Azure Blob).

    A segment (:mod:`shared.wal_segment`) is written whole or not at all; segments list in name order,
    which is ingest order (:func:`~shared.model.segment_name`). Unreadable content raises
    :class:`~shared.wal_segment.UnreadableWalEntry` in every implementation.
    """

    @abstractmethod
    def append(self, segment: WalSegment, data: bytes) -> None:
        """Create blob ``segment.name`` holding ``data`` (:func:`shared.wal_segment.encode`'s bytes) and
        ``segment.info`` as metadata.

        Create-only (If-None-Match: *): an existing blob with the same bytes is success (idempotent
        retry); different bytes under the same name raise ``AlreadyExists``.
        """

    @abstractmethod
    def read_entry(self, locator: WalLocator) -> bytes:
        """One body by ranged read, checked against ``locator.sha256``; ``NotFound`` if the segment is
        missing, ``UnreadableWalEntry`` if the bytes there are not the body."""

    @abstractmethod
    def read_index(self, name: str) -> WalSegment:
        """The segment's info and index (not its bodies); ``NotFound`` if missing."""

    @abstractmethod
    def read_segment(self, name: str) -> tuple[WalSegment, bytes]:
        """The whole segment: index and all its bytes (to copy it to the other region)."""

    @abstractmethod
    def list(self, after: str | None = None, limit: int | None = None) -> Iterator[SegmentInfo]:
        """Segments in name (= ingest) order, strictly after the checkpoint name ``after``."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Delete segment ``name`` (retention); deleting a missing one is success."""


class IdempotencyStore(ABC):
    """One record per message id (Cosmos DB): the claim, then the final outcome."""

    @abstractmethod
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
        """Create the ``PENDING`` record, keeping ``body_sha256`` (the body's SHA-256, hex, so a reused
        MsgId is told apart from a redelivery); ``AlreadyExists`` if any record for the id exists."""

    @abstractmethod
    def get(self, message_id: str) -> ClaimRecord | None:
        """The record, or ``None``."""

    @abstractmethod
    def take_over(
        self, record: ClaimRecord, *, region: str, epoch: int, lease_until: datetime
    ) -> ClaimRecord:
        """Re-claim a ``PENDING`` record (expired lease) for ``region``/``epoch``; ``attempts`` + 1.

        ETag-conditional on ``record.etag``: ``PreconditionFailed`` if someone else changed it.
        Epoch-fenced: ``StaleEpoch`` when ``epoch`` is lower than the record's (a newer active
        region claimed it; :func:`refuse_stale_epoch`), and nothing is written.
        """

    @abstractmethod
    def mark_delivered(self, record: ClaimRecord, details: Mapping[str, str]) -> ClaimRecord:
        """``PENDING`` → ``DELIVERED``, ETag-conditional (``PreconditionFailed`` when stale).

        Epoch-fenced by the ETag: ``record`` is the caller's own claim, so once a newer epoch has
        taken the record over (a new ETag), the caller's mark is refused and changes nothing.
        """

    @abstractmethod
    def mark_failed(self, record: ClaimRecord, reason: str, details: Mapping[str, str]) -> ClaimRecord:
        """``PENDING`` → ``FAILED`` with ``reason``, ETag-conditional (``PreconditionFailed``), epoch-fenced
        as :meth:`mark_delivered`."""

    @abstractmethod
    def lookup(self, message_ids: Iterable[str]) -> dict[str, ClaimRecord]:
        """Records of many ids at once (replay); ids without a record are absent from the result."""

    @abstractmethod
    def failed_since(self, since: datetime, limit: int) -> list[ClaimRecord]:
        """At most ``limit`` ``FAILED`` records last updated at or after ``since``, newest first, in
        one bounded query (the status page's recent failures)."""

    @abstractmethod
    def claimed_before(self, before: datetime, limit: int) -> list[ClaimRecord]:
        """At most ``limit`` ``PENDING`` records claimed (or last taken over) before ``before``, oldest
        first, in one bounded query: claims older than a threshold, the status page's in-doubt list."""

    @abstractmethod
    def counts(self, since: datetime, now: datetime) -> dict[str, int]:
        """What the records say, for the status route (the same in every region and process).

        Records last updated at or after ``since``, by outcome: ``delivered``, ``failed`` (final,
        quarantined), ``pending`` (claimed, not yet final), ``in_doubt`` (taken over at least once:
        a worker stopped between its claim and its record, so the message was reconciled or
        redelivered under the same delivery key); and, whatever their age, ``lease_expired``: pending
        records whose lease ended before ``now`` (in doubt now, waiting for the next delivery).
        """


def refuse_stale_epoch(record: ClaimRecord, region: str, epoch: int) -> None:
    """Raise ``StaleEpoch`` when ``epoch`` is lower than ``record.epoch``: a region fenced out by a
    newer epoch may not take over (or mark) what the newer active region claimed."""
    if epoch < record.epoch:
        raise StaleEpoch(region, "idempotency record", record.message_id, epoch, record.epoch)


class StatementPublisher(ABC):
    """Sends ingested statements to Service Bus (session = account, MessageId = message id)."""

    @abstractmethod
    def publish(self, statements: list[OutboundStatement]) -> None:
        """Send all of ``statements`` or raise; duplicates by MessageId are dropped by the queue."""

    @abstractmethod
    def probe(self) -> str:
        """Health check (the Watchdog's ``servicebus`` probe): a round trip that proves the queue
        could be sent to now, without sending; raises ``ServiceUnavailable`` otherwise."""


class MqSource(ABC):
    """The on-prem IBM MQ input queue, read under syncpoint, by one reader at a time.

    Exclusive input (IBM MQ ``MQOO_INPUT_EXCLUSIVE``): the first :meth:`get` takes the input and the
    source holds it until :meth:`close`, or until its process or connection dies (the queue manager
    then backs the open unit of work out and releases the handle). While one source holds the input,
    :meth:`get` on any other source of the same queue returns ``None`` (it does not raise), so two
    QueueBuilders can never interleave their batches and invert a session's order. :meth:`depth`
    needs no hold.
    """

    @abstractmethod
    def get(self, wait_s: float = 0.0, max_bytes: int | None = None) -> MqMessage | None:
        """MQGET under syncpoint; ``None`` when the queue stays empty for ``wait_s`` or another source
        holds the input. Takes (or re-takes, after :meth:`close`) the exclusive input lazily.

        With ``max_bytes``, a next message whose body is larger is not taken: it stays first on the
        queue, unchanged (backout count included), and :class:`~shared.errors.TooLarge` says its size.
        """

    @abstractmethod
    def commit(self) -> None:
        """MQCMIT: every message got since the last commit/backout is gone from the queue."""

    @abstractmethod
    def backout(self) -> None:
        """MQBACK: every message got since the last commit/backout is back, backout count + 1."""

    @abstractmethod
    def to_backout_queue(self, message: MqMessage, reason: str) -> None:
        """Move ``message`` (got in this unit of work) to the backout queue, within the unit of work."""

    @abstractmethod
    def depth(self) -> int:
        """Messages waiting (for status and health)."""

    @abstractmethod
    def close(self) -> None:
        """Release the input: back out any open unit of work (never commit implicitly), then give up
        the exclusive hold (MQCLOSE/MQDISC) so another source can read. Idempotent; a later
        :meth:`get` re-opens lazily."""


class DeliveryTarget(ABC):
    """MessageWay: receives the MT950 messages of one statement under one delivery key."""

    @abstractmethod
    def deliver(self, delivery_key: str, payload: bytes, metadata: Mapping[str, str]) -> None:
        """Deliver ``payload``; delivering the same key twice must not create a second delivery
        where the target can tell (folder: same file name; MQ: same MsgId)."""

    @abstractmethod
    def was_delivered(self, delivery_key: str) -> bool | None:
        """``True``/``False`` when the target can tell, ``None`` when it cannot (reconcile)."""

    @abstractmethod
    def probe(self) -> str:
        """Health check (the Watchdog's ``messageway`` probe): prove that a delivery could be made
        now, without delivering; raises ``ServiceUnavailable`` otherwise."""


class BodyStore(ABC):
    """Blob containers for quarantined bodies and optional output backups."""

    @abstractmethod
    def put(self, name: str, body: bytes, metadata: Mapping[str, str]) -> None:
        """Write ``body`` under ``name`` (overwrite allowed: the content is keyed by message id)."""

    @abstractmethod
    def get(self, name: str) -> bytes:
        """Read ``name``; ``NotFound`` if missing."""


class ConsumptionSwitch(ABC):
    """Turns this region's Service Bus consumption on or off.

    In Azure: the runner trigger's ``AzureWebJobs.transformation_runner.Disabled`` app setting
    (azure-mgmt-web); on the local host: a flag file each region process obeys. The gate inside the
    runner is the fence behind this switch.
    """

    @abstractmethod
    def set_enabled(self, enabled: bool) -> None:
        """Enable or disable consumption; idempotent."""

    @abstractmethod
    def enabled(self) -> bool:
        """Whether consumption is enabled now."""
