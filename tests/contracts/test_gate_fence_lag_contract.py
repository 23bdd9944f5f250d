"""The fenced read on a lagging copy, against real redis-server (docs/failover.md, "The fence on a
lagging copy"; issue #5 scenario 9c).

DC04's Redis is the primary, DC06's a replica whose replication link goes through a
``dev.proxy.TcpProxy`` (the recipe of ``test_gate_contract.TestRedisReplicaLag``). The flag flips
away from DC06 at the primary while the link is held: the copy keeps saying DC06. The fenced read
(``read_fenced``) must refuse the copy once its lag exceeds ``GATE_MAX_LAG_S`` and read it again once
the link is restored; a primary answers the fenced read as a plain one. The twin runs the same checks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dev.proxy import TcpProxy
from dev.stack import Stack, free_port_base
from shared.adapters.redis_gate import SETTLE_S, RedisActiveRegionGate
from shared.errors import RegionNotActive, ServiceUnavailable, StaleGateCopy
from shared.gate_cache import CachedGate
from shared.model import GateState
from shared.telemetry import Metrics
from tests.twins.gate import InMemoryGate

ROOT = Path(__file__).resolve().parents[2]
F = 1.0


def eventually(condition: Callable[[], bool], within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _fenced(gate: RedisActiveRegionGate | InMemoryGate) -> GateState | StaleGateCopy | None:
    try:
        return gate.read_fenced(F)
    except StaleGateCopy as error:
        return error


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(ROOT, free_port_base(), state_dir=tmp_path / "state")
    try:
        stack.start_service("redis-dc04")
        stack.start_service("redis-dc06")
        yield stack
    finally:
        stack.down()


def _gate(stack: Stack, name: str) -> RedisActiveRegionGate:
    return RedisActiveRegionGate.from_url(f"redis://127.0.0.1:{stack.port(name)}/0", timeout_s=0.5)


@pytest.mark.integration
class TestRedisFenceOnALaggingReplica:
    def test_the_fenced_read_refuses_the_held_copy_past_f_and_reads_it_again_once_restored(
        self, pair: Stack
    ) -> None:
        dc04, dc06 = _gate(pair, "redis-dc04"), _gate(pair, "redis-dc06")
        with TcpProxy(0, ("127.0.0.1", pair.port("redis-dc04"))) as link:
            dc06.follow("127.0.0.1", link.port)
            active = dc04.flip(dc04.initialise("DC04"), "DC06")  # DC06 active, reading its replica
            assert eventually(lambda: _fenced(dc06) == active)

            link.cut("hold")
            failback = dc04.flip(active, "DC04")  # the operator's failback lands on the primary
            assert dc04.read_fenced(F) == failback  # a primary answers as a plain read
            assert dc06.read() == active  # the held copy still says "DC06 is active"
            assert eventually(lambda: isinstance(_fenced(dc06), StaleGateCopy), within_s=5)
            with pytest.raises(ServiceUnavailable, match=r"gate copy stale: replication lag \d+ s > 1 s"):
                dc06.read_fenced(F)
            lag = dc06.replication_lag_s()
            assert lag is not None and F < lag < math.inf  # held silently: the link is still "up"

            cached = CachedGate(dc06, ttl_s=0.0, metrics=Metrics(), max_lag_s=F)
            with pytest.raises(RegionNotActive, match="gate unreadable"):
                cached.check("DC06")  # DC06's fence fails closed while its copy is stale
            assert cached.stats.stale == 1

            link.restore()
            assert eventually(lambda: _fenced(dc06) == failback, within_s=20)
            with pytest.raises(RegionNotActive, match="DC04 is active"):
                cached.check("DC06")  # caught up: DC06 reads that it is passive
        dc04.close()
        dc06.close()

    def test_a_replica_is_trusted_only_after_it_was_seen_fresh_for_a_settle_time(self, pair: Stack) -> None:
        """Redis reports lag 0 from a re-link's handshake on, before the missed backlog is applied."""
        dc04, dc06 = _gate(pair, "redis-dc04"), _gate(pair, "redis-dc06")
        now = [100.0]
        dc06.clock = lambda: now[0]
        with TcpProxy(0, ("127.0.0.1", pair.port("redis-dc04"))) as link:
            dc06.follow("127.0.0.1", link.port)
            state = dc04.initialise("DC04")
            assert eventually(lambda: dc06.read() == state and dc06.replication_lag_s() == 0.0)
            with pytest.raises(StaleGateCopy, match=f"replica fresh for less than {SETTLE_S:g} s"):
                dc06.read_fenced(F)  # a new client has not seen the copy fresh for long yet
            now[0] += SETTLE_S
            assert dc06.read_fenced(F) == state

            link.cut("hold")
            assert eventually(lambda: isinstance(_fenced(dc06), StaleGateCopy), within_s=5)
            link.restore()  # the held link is reset; the replica re-links with a partial resync
            assert eventually(lambda: (dc06.replication_lag_s() or math.inf) <= F, within_s=20)
            with pytest.raises(StaleGateCopy, match="fresh for less than"):
                dc06.read_fenced(F)  # fresh again, but not for the settle time yet
            now[0] += SETTLE_S
            assert dc06.read_fenced(F) == state
        dc04.close()
        dc06.close()

    def test_a_replica_whose_primary_is_gone_is_refused(self, pair: Stack) -> None:
        dc04, dc06 = _gate(pair, "redis-dc04"), _gate(pair, "redis-dc06")
        dc06.follow("127.0.0.1", pair.port("redis-dc04"))  # the stack's two are independent
        state = dc04.initialise("DC04")
        assert eventually(lambda: _fenced(dc06) == state)
        pair.stop_service("redis-dc04")  # the link goes down at once: lag inf
        assert eventually(lambda: isinstance(_fenced(dc06), StaleGateCopy))
        assert dc06.read() == state  # a plain read still answers from what it last heard
        dc06.make_writable()
        assert dc06.read_fenced(F) == state  # promoted: a primary, authoritative again
        dc06.close()

    def test_a_fenced_read_of_an_unreachable_redis_raises_service_unavailable(self) -> None:
        with TcpProxy(0, ("127.0.0.1", 1)) as nowhere:
            nowhere.cut()
            gate = RedisActiveRegionGate.from_url(f"redis://127.0.0.1:{nowhere.port}/0", timeout_s=0.3)
            with pytest.raises(ServiceUnavailable) as unreachable:
                gate.read_fenced(F)
            assert not isinstance(unreachable.value, StaleGateCopy)


class TestTwinFenceOnALaggingReplica:
    """The same refusal and recovery on the in-memory twin (its lag is what the test sets)."""

    def test_the_twin_refuses_past_f_and_reads_again_once_restored(self) -> None:
        dc04 = InMemoryGate()
        dc06 = InMemoryGate(primary=dc04)
        active = dc04.flip(dc04.initialise("DC04"), "DC06")
        assert _fenced(dc06) == active
        dc06.linked = False
        failback = dc04.flip(active, "DC04")
        dc06.replication_lag = 2.0
        assert dc04.read_fenced(F) == failback and dc06.read() == active
        assert isinstance(_fenced(dc06), StaleGateCopy)
        dc06.linked, dc06.replication_lag = True, 0.0
        assert _fenced(dc06) == failback
