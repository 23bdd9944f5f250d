"""A whole region built from in-memory twins, for fast tests of the handlers' protocols."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import bootstrap
from queue_builder.handler import QueueBuilder
from shared.errors import PermanentError
from shared.gate_cache import CachedGate
from shared.model import REGIONS, ClaimRecord, GateView, InboundStatement, Lease, OutboundStatement
from tests.twins import (
    InMemoryBodyStore,
    InMemoryCheckpointStore,
    InMemoryConsumptionSwitch,
    InMemoryDeliveryTarget,
    InMemoryGateMirror,
    InMemoryHeartbeats,
    InMemoryIdempotencyStore,
    InMemoryMqSource,
    InMemoryOperationsJournal,
    InMemoryPublisher,
    InMemoryRegionAuthority,
    InMemorySequenceAllocator,
    InMemoryWriteAheadLog,
)
from transformation_runner.handler import TransformationRunner


class FakeClock:
    """Wall clock and monotonic clock that move only when told."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
        self.mono = 1000.0
        self.slept: list[float] = []

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


class BadStatement(PermanentError):
    reason = "not-camt053"


@dataclass(frozen=True)
class FakeTranslation:
    messages: list[str]
    report: list[dict[str, object]]
    formats: tuple[str, ...] = ("MT950",)


def fake_translate(body: bytes) -> FakeTranslation:
    """Stands in for the translator in protocol tests: rejects bodies whose payload starts with BAD."""
    if body.startswith(b"BAD") or b"|BAD" in body:
        raise BadStatement(f"cannot translate {body.decode(errors='replace')!r}")
    return FakeTranslation([f"{{1:F01}}{{4:\r\n:20:{body.decode()[:16]}\r\n-}}"], [])


def session_of(body: bytes) -> str:
    """Stands in for the translator's account peek: ``ACCOUNT|payload``."""
    account, sep, _ = body.partition(b"|")
    if not sep:
        raise BadStatement("no account")
    return account.decode()


#: The lease length the handler tests grant (long enough that no test runs into its end by accident).
TEST_LEASE_S = 86400.0


@dataclass
class Shared:
    """What both regions share: the region lease, the WAL copies, Service Bus, Cosmos, MessageWay, MQ;
    and each region's own gate mirror."""

    clock: FakeClock = field(default_factory=FakeClock)
    authority: InMemoryRegionAuthority = field(default_factory=InMemoryRegionAuthority)
    mirrors: dict[str, InMemoryGateMirror] = field(
        default_factory=lambda: {region: InMemoryGateMirror() for region in REGIONS}
    )
    sequences: InMemorySequenceAllocator = field(default_factory=InMemorySequenceAllocator)
    checkpoints: InMemoryCheckpointStore = field(default_factory=InMemoryCheckpointStore)
    heartbeats: InMemoryHeartbeats = field(default_factory=InMemoryHeartbeats)
    wal: InMemoryWriteAheadLog = field(default_factory=InMemoryWriteAheadLog)
    publisher: InMemoryPublisher = field(default_factory=InMemoryPublisher)
    store: InMemoryIdempotencyStore = field(default_factory=InMemoryIdempotencyStore)
    target: InMemoryDeliveryTarget = field(default_factory=InMemoryDeliveryTarget)
    quarantine: InMemoryBodyStore = field(default_factory=InMemoryBodyStore)
    mq: InMemoryMqSource = field(default_factory=InMemoryMqSource)
    switches: dict[str, InMemoryConsumptionSwitch] = field(default_factory=dict)

    def activate(self, region: str = "DC04") -> Lease:
        """Make ``region`` the working region as its Watchdog would: lease (initialised or
        transferred, starting now), mirrors of both regions, activation in the lease's epoch."""
        now = self.clock.wall()
        current = self.authority.read()
        if current is None:
            lease = self.authority.initialise(region, TEST_LEASE_S, now)
        else:
            moved = current.transferred(
                region, reason="test", by="test", now=now, lease_s=TEST_LEASE_S, skew_s=0
            )
            lease = self.authority.swap(current, replace(moved, not_before=now))
        for name, mirror in self.mirrors.items():
            mirror.publish(GateView(lease, lease.epoch if name == region else None))
        return lease

    def record(self, message_id: str) -> ClaimRecord:
        """The idempotency record of ``message_id``, which must exist."""
        found = self.store.get(message_id)
        assert found is not None, f"no record of {message_id}"
        return found

    def cached_gate(self, region: str = "DC04", ttl_s: float = 0.0) -> CachedGate:
        return CachedGate(
            self.mirrors[region], ttl_s=ttl_s, guard_s=1.0, clock=self.clock.monotonic, wall=self.clock.wall
        )

    def queue_builder(
        self, region: str = "DC04", around: bootstrap.Around = bootstrap.as_is, **overrides: object
    ) -> QueueBuilder:
        """A QueueBuilder on the twins; ``around`` wraps its ports as ``bootstrap.wire`` does."""
        options: dict[str, object] = {
            "region": region,
            "gate": self.cached_gate(region),
            "sequences": self.sequences,
            "heartbeats": self.heartbeats,
            "mq": around("queue_builder", "mq", self.mq),
            "wal": around("queue_builder", "wal", self.wal),
            "publisher": around("queue_builder", "publisher", self.publisher),
            "quarantine": around("queue_builder", "quarantine", self.quarantine),
            "records": around("queue_builder", "records", self.store),
            "session_of": session_of,
            "get_wait_s": 0.0,
            "clock": self.clock.wall,
            "sleep": self.clock.sleep,
            "monotonic": self.clock.monotonic,
        }
        options.update(overrides)
        return QueueBuilder(**options)  # type: ignore[arg-type]

    def runner(
        self, region: str = "DC04", around: bootstrap.Around = bootstrap.as_is, **overrides: object
    ) -> TransformationRunner:
        """A runner on the twins; ``around`` wraps its dependencies as ``bootstrap.wire`` does."""
        options: dict[str, object] = {
            "region": region,
            "gate": self.cached_gate(region),
            "store": around("runner", "store", self.store),
            "target": around("runner", "target", self.target),
            "quarantine": around("runner", "quarantine", self.quarantine),
            "wal": around("runner", "wal", self.wal),
            "translate": around("runner", "translate", fake_translate),
            "lease_s": 30.0,
            "max_claim_wait_s": 30.0,
            "clock": self.clock.wall,
            "sleep": self.clock.sleep,
        }
        options.update(overrides)
        return TransformationRunner(**options)  # type: ignore[arg-type]


def twin_ports() -> bootstrap.Ports:
    """Every port of one region as an in-memory twin (for ``bootstrap.wire``)."""
    return bootstrap.Ports(
        authority=InMemoryRegionAuthority(),
        mirror=InMemoryGateMirror(),
        sequences=InMemorySequenceAllocator(),
        checkpoints=InMemoryCheckpointStore(),
        heartbeats=InMemoryHeartbeats(),
        mq=InMemoryMqSource(),
        wal=InMemoryWriteAheadLog(),
        publisher=InMemoryPublisher(),
        store=InMemoryIdempotencyStore(),
        target=InMemoryDeliveryTarget(),
        quarantine=InMemoryBodyStore(),
        switch=InMemoryConsumptionSwitch(),
        journal=InMemoryOperationsJournal(),
    )


def inbound(statement: OutboundStatement, delivery_count: int = 1) -> InboundStatement:
    """What the trigger would hand the runner for a published statement."""
    return InboundStatement(
        message_id=statement.message_id,
        session_id=statement.session_id,
        body=statement.body,
        wal=statement.wal,
        epoch=statement.epoch,
        sequence=statement.sequence,
        region=statement.region,
        delivery_count=delivery_count,
    )


def put_statements(shared: Shared, count: int, account: str = "CH93ACC", start: int = 0) -> list[str]:
    ids = []
    for i in range(start, start + count):
        message_id = f"{i:048x}"
        shared.mq.put(message_id, f"{account}|statement {i}".encode())
        ids.append(message_id)
    return ids
