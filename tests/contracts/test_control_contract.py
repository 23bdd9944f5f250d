"""Contracts of the control-plane ports, each run against its in-memory twin and the real local server.

* :class:`~shared.ports.RegionAuthority`, :class:`~shared.ports.SequenceAllocator`,
  :class:`~shared.ports.CheckpointStore`, :class:`~shared.ports.Heartbeats`: the twins and the Cosmos
  adapters on the stack's Cosmos server (``@vercel/cosmosdb-server``, reached through
  :class:`dev.proxy.TcpProxy` so an outage is a real broken connection; one container per test).
* :class:`~shared.ports.GateMirror`: the twin and the Redis adapter on the stack's DC04 Redis (one key
  prefix per test).

Expected values are written out here, never computed by the code under test.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from dev.proxy import TcpProxy
from shared.adapters.cosmos_client import CosmosContainer, CosmosOptions
from shared.adapters.cosmos_control import (
    CosmosCheckpointStore,
    CosmosHeartbeats,
    CosmosRegionAuthority,
    CosmosSequenceAllocator,
)
from shared.adapters.redis_gate import RedisGateMirror
from shared.errors import AlreadyExists, LeaseLost, ServiceUnavailable
from shared.model import Activation, Checkpoint, GateView, Heartbeat, Lease, ProbeResult
from shared.ports import CheckpointStore, GateMirror, Heartbeats, RegionAuthority, SequenceAllocator
from shared.settings import Connection
from tests.twins import (
    InMemoryCheckpointStore,
    InMemoryGateMirror,
    InMemoryHeartbeats,
    InMemoryRegionAuthority,
    InMemorySequenceAllocator,
)

T0 = datetime(2026, 12, 3, 9, 30, 0, 250000, tzinfo=UTC)
FAST = CosmosOptions(connection_timeout_s=1.0, read_timeout_s=1.0, timeout_s=3.0, retry_total=1)
Outage = tuple[Callable[[], None], Callable[[], None]]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# -- the region lease ------------------------------------------------------------------------------


class RegionAuthorityContract:
    @pytest.fixture
    def authority(self) -> RegionAuthority:
        raise NotImplementedError

    @pytest.fixture
    def outage(self, authority: RegionAuthority) -> Outage:
        raise NotImplementedError

    def test_read_before_initialise_is_none(self, authority: RegionAuthority) -> None:
        assert authority.read() is None

    def test_initialise_creates_epoch_one_and_only_once(self, authority: RegionAuthority) -> None:
        first = authority.initialise("DC04", 60, T0)
        assert (first.active_dc, first.epoch, first.holder) == ("DC04", 1, "DC04")
        assert (first.not_before, first.lease_until, first.at) == (T0, at(60), T0)
        assert first.etag
        with pytest.raises(AlreadyExists):
            authority.initialise("DC06", 60, at(1))
        assert authority.read() == first

    def test_renew_extends_and_never_shortens(self, authority: RegionAuthority) -> None:
        first = authority.initialise("DC04", 60, T0)
        renewed = authority.renew(first, at(75), at(15))
        assert (renewed.epoch, renewed.lease_until, renewed.renewed_at) == (1, at(75), at(15))
        assert renewed.etag != first.etag
        kept = authority.renew(renewed, at(30), at(16))
        assert kept.lease_until == at(75)
        assert authority.read() == kept

    def test_a_stale_renew_loses_and_carries_the_current_lease(self, authority: RegionAuthority) -> None:
        first = authority.initialise("DC04", 60, T0)
        renewed = authority.renew(first, at(75), at(15))
        with pytest.raises(LeaseLost) as lost:
            authority.renew(first, at(90), at(30))
        assert lost.value.current == renewed
        assert authority.read() == renewed

    def test_transfer_increments_the_epoch_and_starts_after_the_lease_plus_skew(
        self, authority: RegionAuthority
    ) -> None:
        first = authority.initialise("DC04", 60, T0)
        moved = authority.transfer(
            first, "DC06", reason="planned", by="ops@bank", now=at(20), lease_s=60, skew_s=5
        )
        assert (moved.active_dc, moved.epoch, moved.previous_dc) == ("DC06", 2, "DC04")
        assert (moved.not_before, moved.lease_until) == (at(65), at(125))
        assert (moved.at, moved.reason, moved.by) == (at(20), "planned", "ops@bank")
        assert authority.read() == moved

    def test_transfer_after_the_lease_ended_starts_now(self, authority: RegionAuthority) -> None:
        first = authority.initialise("DC04", 60, T0)
        moved = authority.transfer(
            first, "DC06", reason="expired", by="watchdog", now=at(80), lease_s=60, skew_s=5
        )
        assert (moved.not_before, moved.lease_until) == (at(80), at(140))

    def test_the_old_holder_cannot_renew_after_a_transfer(self, authority: RegionAuthority) -> None:
        first = authority.initialise("DC04", 60, T0)
        moved = authority.transfer(
            first, "DC06", reason="planned", by="ops", now=at(20), lease_s=60, skew_s=5
        )
        with pytest.raises(LeaseLost) as lost:
            authority.renew(first, at(95), at(35))
        assert lost.value.current == moved
        with pytest.raises(LeaseLost):
            authority.transfer(first, "DC06", reason="again", by="ops", now=at(21), lease_s=60, skew_s=5)
        assert authority.read() == moved

    def test_two_racing_transfers_exactly_one_wins(self, authority: RegionAuthority) -> None:
        first = authority.initialise("DC04", 60, T0)
        outcomes: list[str] = []

        def race(by: str) -> None:
            try:
                authority.transfer(first, "DC06", reason="race", by=by, now=at(70), lease_s=60, skew_s=5)
                outcomes.append("won")
            except LeaseLost:
                outcomes.append("lost")

        threads = [threading.Thread(target=race, args=(f"t{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["lost", "lost", "lost", "won"]
        assert authority.read().epoch == 2  # type: ignore[union-attr]

    def test_an_outage_is_service_unavailable_and_changes_nothing(
        self, authority: RegionAuthority, outage: Outage
    ) -> None:
        first = authority.initialise("DC04", 60, T0)
        cut, restore = outage
        cut()
        try:
            with pytest.raises(ServiceUnavailable):
                authority.read()
            with pytest.raises(ServiceUnavailable):
                authority.renew(first, at(75), at(15))
        finally:
            restore()
        assert authority.read() == first


class TestInMemoryRegionAuthority(RegionAuthorityContract):
    @pytest.fixture
    def authority(self) -> RegionAuthority:
        return InMemoryRegionAuthority()

    @pytest.fixture
    def outage(self, authority: RegionAuthority) -> Outage:
        assert isinstance(authority, InMemoryRegionAuthority)
        return (lambda: setattr(authority, "available", False), lambda: setattr(authority, "available", True))

    def test_lost_write_region_refuses_writes_and_still_reads(self) -> None:
        authority = InMemoryRegionAuthority()
        first = authority.initialise("DC04", 60, T0)
        authority.writes_available = False
        with pytest.raises(ServiceUnavailable):
            authority.renew(first, at(75), at(15))
        assert authority.read() == first


@pytest.fixture
def cosmos_proxy(stack: dict[str, str]) -> Iterator[TcpProxy]:
    proxy = TcpProxy(0, ("127.0.0.1", int(stack["STACK_COSMOS_PORT"])))
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def control(stack: dict[str, str], cosmos_proxy: TcpProxy) -> CosmosContainer:
    port = stack["STACK_COSMOS_PORT"]
    conn = stack["STACK_COSMOS"].replace(f"127.0.0.1:{port}", f"127.0.0.1:{cosmos_proxy.port}")
    return CosmosContainer(
        Connection("CosmosConnection", conn), "contract", f"control-{uuid.uuid4().hex[:12]}", FAST
    )


class TestCosmosRegionAuthority(RegionAuthorityContract):
    @pytest.fixture
    def authority(self, control: CosmosContainer) -> RegionAuthority:
        return CosmosRegionAuthority(control)

    @pytest.fixture
    def outage(self, cosmos_proxy: TcpProxy) -> Outage:
        return (cosmos_proxy.cut, cosmos_proxy.restore)

    def test_two_clients_see_one_lease(self, control: CosmosContainer) -> None:
        mine, other = (
            CosmosRegionAuthority(control),
            CosmosRegionAuthority(
                CosmosContainer(control.connection, control.database, control.container, FAST)
            ),
        )
        first = mine.initialise("DC04", 60, T0)
        moved = other.transfer(first, "DC06", reason="planned", by="ops", now=at(5), lease_s=60, skew_s=5)
        with pytest.raises(LeaseLost) as lost:
            mine.renew(first, at(70), at(10))
        assert lost.value.current == moved


# -- ingest sequences -------------------------------------------------------------------------------


class SequenceContract:
    @pytest.fixture
    def sequences(self) -> SequenceAllocator:
        raise NotImplementedError

    def test_numbers_start_at_one_per_epoch_and_follow_on(self, sequences: SequenceAllocator) -> None:
        assert sequences.next(3) == 1
        assert sequences.next(3, 5) == 2
        assert sequences.next(3) == 7
        assert sequences.next(4, 2) == 1

    def test_a_count_below_one_is_refused(self, sequences: SequenceAllocator) -> None:
        with pytest.raises(ValueError, match="at least 1"):
            sequences.next(3, 0)

    def test_concurrent_reservations_never_overlap(self, sequences: SequenceAllocator) -> None:
        firsts: list[int] = []

        def reserve() -> None:
            for _ in range(3):
                firsts.append(sequences.next(9, 2))

        threads = [threading.Thread(target=reserve) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(firsts) == [1, 3, 5, 7, 9, 11, 13, 15, 17]


class TestInMemorySequenceAllocator(SequenceContract):
    @pytest.fixture
    def sequences(self) -> SequenceAllocator:
        return InMemorySequenceAllocator()


class TestCosmosSequenceAllocator(SequenceContract):
    @pytest.fixture
    def sequences(self, control: CosmosContainer) -> SequenceAllocator:
        return CosmosSequenceAllocator(control)

    def test_an_outage_is_service_unavailable(
        self, sequences: SequenceAllocator, cosmos_proxy: TcpProxy
    ) -> None:
        assert sequences.next(1) == 1
        cosmos_proxy.cut()
        try:
            with pytest.raises(ServiceUnavailable):
                sequences.next(1)
        finally:
            cosmos_proxy.restore()
        assert sequences.next(1) == 2


# -- checkpoints and activations -------------------------------------------------------------------


class CheckpointContract:
    @pytest.fixture
    def checkpoints(self) -> CheckpointStore:
        raise NotImplementedError

    def test_a_checkpoint_round_trips_and_is_overwritten(self, checkpoints: CheckpointStore) -> None:
        assert checkpoints.get("replay:DC06:0000000002") is None
        first = Checkpoint("replay:DC06:0000000002", "20261203/0000000001/000000000007-aa", T0)
        checkpoints.put(first)
        assert checkpoints.get("replay:DC06:0000000002") == first
        later = Checkpoint(
            "replay:DC06:0000000002",
            "20261203/0000000001/000000000090-bb",
            at(3),
            final_through="20261203/0000000001/000000000010-cc",
            blocked=True,
            done=True,
        )
        checkpoints.put(later)
        assert checkpoints.get("replay:DC06:0000000002") == later
        assert checkpoints.get("replay:DC04:0000000002") is None

    def test_an_activation_per_region(self, checkpoints: CheckpointStore) -> None:
        assert checkpoints.activation("DC06") is None
        checkpoints.record_activation(Activation("DC06", 2, T0, replayed=14))
        checkpoints.record_activation(Activation("DC04", 1, at(-100), replayed=0))
        assert checkpoints.activation("DC06") == Activation("DC06", 2, T0, 14)
        checkpoints.record_activation(Activation("DC06", 4, at(50), replayed=1))
        assert checkpoints.activation("DC06") == Activation("DC06", 4, at(50), 1)
        assert checkpoints.activation("DC04") == Activation("DC04", 1, at(-100), 0)


class TestInMemoryCheckpointStore(CheckpointContract):
    @pytest.fixture
    def checkpoints(self) -> CheckpointStore:
        return InMemoryCheckpointStore()


class TestCosmosCheckpointStore(CheckpointContract):
    @pytest.fixture
    def checkpoints(self, control: CosmosContainer) -> CheckpointStore:
        return CosmosCheckpointStore(control)


# -- heartbeats ------------------------------------------------------------------------------------


class HeartbeatsContract:
    @pytest.fixture
    def heartbeats(self) -> Heartbeats:
        raise NotImplementedError

    def test_the_last_beat_per_region_and_component(self, heartbeats: Heartbeats) -> None:
        assert heartbeats.last("DC04", "watchdog") is None
        probes = (ProbeResult("cosmos", True, 3.5, "reachable"), ProbeResult("mq", False, None, "timeout"))
        beat = Heartbeat("DC04", "watchdog", T0, False, "mq unhealthy", probes)
        heartbeats.beat(beat)
        heartbeats.beat(Heartbeat("DC04", "queue_builder", at(1), True, "drained: 4 ingested"))
        assert heartbeats.last("DC04", "watchdog") == beat
        newer = Heartbeat("DC04", "watchdog", at(15), True)
        heartbeats.beat(newer)
        assert heartbeats.last("DC04", "watchdog") == newer
        assert heartbeats.last("DC04", "queue_builder") == Heartbeat(
            "DC04", "queue_builder", at(1), True, "drained: 4 ingested"
        )
        assert heartbeats.last("DC06", "watchdog") is None
        assert newer.age_s(at(20)) == 5.0


class TestInMemoryHeartbeats(HeartbeatsContract):
    @pytest.fixture
    def heartbeats(self) -> Heartbeats:
        return InMemoryHeartbeats()


class TestCosmosHeartbeats(HeartbeatsContract):
    @pytest.fixture
    def heartbeats(self, control: CosmosContainer) -> Heartbeats:
        return CosmosHeartbeats(control)


# -- the gate mirror (Redis) -----------------------------------------------------------------------

LEASE = Lease("DC06", 4, at(60), at(5), T0, "planned", "ops@bank", "DC04", at(1), etag='"0000abcd"')


class GateMirrorContract:
    @pytest.fixture
    def mirrors(self) -> Callable[[str], GateMirror]:
        """A factory: the mirror of one region (two calls for one region share a key)."""
        raise NotImplementedError

    def test_nothing_published_reads_none(self, mirrors: Callable[[str], GateMirror]) -> None:
        assert mirrors("DC04").read() is None

    def test_a_view_round_trips_without_the_etag(self, mirrors: Callable[[str], GateMirror]) -> None:
        mirror = mirrors("DC06")
        mirror.publish(GateView(LEASE, activated_epoch=None))
        expected = Lease("DC06", 4, at(60), at(5), T0, "planned", "ops@bank", "DC04", at(1))
        assert mirror.read() == GateView(expected, None)
        mirror.publish(GateView(LEASE, activated_epoch=4))
        assert mirror.read() == GateView(expected, 4)

    def test_each_region_has_its_own_key(self, mirrors: Callable[[str], GateMirror]) -> None:
        mirrors("DC06").publish(GateView(LEASE, 4))
        assert mirrors("DC04").read() is None


class TestInMemoryGateMirror(GateMirrorContract):
    @pytest.fixture
    def mirrors(self) -> Callable[[str], GateMirror]:
        made: dict[str, InMemoryGateMirror] = {}
        return lambda region: made.setdefault(region, InMemoryGateMirror())


class TestRedisGateMirror(GateMirrorContract):
    @pytest.fixture
    def mirrors(self, stack: dict[str, str]) -> Callable[[str], GateMirror]:
        prefix = f"contract-{uuid.uuid4().hex[:8]}:"
        connection = Connection("RedisConnection", stack["STACK_REDIS_DC04"])
        return lambda region: RedisGateMirror.from_connection(connection, region, prefix)

    def test_an_unreachable_redis_is_service_unavailable(self) -> None:
        dead = RedisGateMirror.from_connection(Connection("RedisConnection", "redis://127.0.0.1:9/0"), "DC04")
        with pytest.raises(ServiceUnavailable):
            dead.read()
        with pytest.raises(ServiceUnavailable):
            dead.publish(GateView(LEASE, 4))
