"""The fence on a lagging gate copy (issue #5 scenario 9c; docs/failover.md "The fence on a lagging copy").

A region whose gate copy is a replica reads ``active_dc`` there. When the flag flips away from it at
the primary while replication lags, the copy still says "you are active". With ``GATE_MAX_LAG_S`` (F)
the fence treats a replica more than F behind as unreadable (``StaleGateCopy``, a
``ServiceUnavailable`` like an unreachable Redis) and the activating region waits
``GATE_CACHE_TTL_S + F + 1 s`` (Redis reports the lag in whole seconds) before it consumes.
"""

from __future__ import annotations

import pytest

import bootstrap
from shared.errors import ConfigurationError, RegionNotActive, ServiceUnavailable, StaleGateCopy
from shared.gate_cache import CachedGate, GateCacheStats
from shared.model import GateState
from shared.settings import Settings
from shared.telemetry import Metrics
from tests.twins import InMemoryGate
from tests.unit.test_settings import LOCAL
from tests.unit.test_watchdog import make_watchdog
from tests.unit.twins import FakeClock, Shared, twin_ports


class CountingGate(InMemoryGate):
    """The twin, counting how often its replication lag is asked (a primary must not be asked)."""

    def __init__(self) -> None:
        super().__init__()
        self.lag_reads = 0

    def replication_lag_s(self) -> float | None:
        self.lag_reads += 1
        return super().replication_lag_s()


@pytest.fixture
def primary() -> InMemoryGate:
    gate = InMemoryGate()
    gate.initialise("DC06")
    return gate


@pytest.fixture
def replica(primary: InMemoryGate) -> InMemoryGate:
    return InMemoryGate(primary=primary)


def fence(gate: InMemoryGate, clock: FakeClock, metrics: Metrics | None = None) -> CachedGate:
    return CachedGate(gate, ttl_s=1.0, clock=clock.monotonic, metrics=metrics or Metrics(), max_lag_s=1.0)


def test_a_replica_lagging_more_than_f_is_unreadable_like_an_unreachable_redis(replica: InMemoryGate) -> None:
    replica.replication_lag = 2.0
    with pytest.raises(StaleGateCopy) as stale:
        replica.read_fenced(1.0)
    replica.replication_lag, replica.available = 0.0, False
    with pytest.raises(ServiceUnavailable) as unreachable:
        replica.read_fenced(1.0)
    assert isinstance(stale.value, ServiceUnavailable)
    assert stale.value.service == unreachable.value.service == "redis"
    assert "replication lag 2 s > 1 s" in str(stale.value)


def test_the_fence_refuses_a_stale_copy_exactly_as_an_unreachable_one(replica: InMemoryGate) -> None:
    clock, metrics = FakeClock(), Metrics()
    cached = fence(replica, clock, metrics)
    replica.replication_lag = 3.0
    with pytest.raises(RegionNotActive, match="gate unreadable and no fresh cached value") as stale:
        cached.check("DC06")
    replica.replication_lag, replica.available = 0.0, False
    with pytest.raises(RegionNotActive, match="gate unreadable and no fresh cached value") as unreachable:
        cached.check("DC06")
    assert isinstance(stale.value.__cause__, StaleGateCopy)
    assert type(unreachable.value.__cause__) is ServiceUnavailable
    assert cached.stats == GateCacheStats(hits=0, misses=2, errors=2, stale=1)
    counters = metrics.snapshot()
    assert counters["gate_cache_read_errors"] == 2 and counters["gate_copy_stale_refusals"] == 1


@pytest.mark.parametrize("lag", [0.0, 0.5, 1.0])
def test_a_replica_within_f_passes(replica: InMemoryGate, lag: float) -> None:
    replica.replication_lag = lag
    assert fence(replica, FakeClock()).check("DC06") == GateState("DC06", 1)


def test_a_primary_passes_the_fenced_read_whatever_the_bound(primary: InMemoryGate) -> None:
    cached = CachedGate(primary, ttl_s=0.0, metrics=Metrics(), max_lag_s=0.0)
    assert primary.replication_lag_s() is None  # authoritative: what it says is the gate
    assert cached.check("DC06") == GateState("DC06", 1)
    assert cached.stats.errors == cached.stats.stale == 0


def test_without_a_bound_the_fence_reads_as_before_and_never_asks_the_lag() -> None:
    gate = CountingGate()
    gate.initialise("DC04")
    gate.replication_lag = 50.0
    assert CachedGate(gate, ttl_s=0.0, metrics=Metrics()).check("DC04") == GateState("DC04", 1)
    assert gate.lag_reads == 0


def test_the_stale_copy_flipped_away_refuses_until_it_catches_up(
    primary: InMemoryGate, replica: InMemoryGate
) -> None:
    """The hazard: DC06 active on its replica, the link held, the flag flipped back to DC04 at the
    primary. The copy still says DC06; the fence refuses it once the lag exceeds F, and after the link
    is restored the fence reads the primary's answer (DC06 passive) from the copy."""
    clock = FakeClock()
    cached = fence(replica, clock)
    assert cached.check("DC06") == GateState("DC06", 1)
    replica.linked = False
    primary.flip(GateState("DC06", 1), "DC04")
    clock.advance(1.0)  # the cached pair has expired; the copy is 1 s behind: still within F
    replica.replication_lag = 1.0
    assert cached.check("DC06") == GateState("DC06", 1)  # the stale answer F allows
    clock.advance(1.0)
    replica.replication_lag = 2.0
    with pytest.raises(RegionNotActive):
        cached.check("DC06")
    replica.linked, replica.replication_lag = True, 0.0
    with pytest.raises(RegionNotActive, match="DC04 is active"):
        cached.check("DC06")
    assert cached.current("DC06") == GateState("DC04", 2)


def test_a_negative_bound_is_refused(replica: InMemoryGate) -> None:
    with pytest.raises(ValueError, match="max_lag_s"):
        CachedGate(replica, max_lag_s=-1.0)


def test_activation_waits_the_cache_ttl_plus_f_plus_the_lag_resolution_and_keeps_beating() -> None:
    shared = Shared()
    dc04 = make_watchdog(shared, "DC04", cache_ttl_s=2.0, gate_max_lag_s=0.5, heartbeat_ttl_s=3.0)
    dc06 = make_watchdog(shared, "DC06", initial_active="DC06")
    assert dc04.fence_wait_s == 3.5
    dc06.tick()  # DC06 is active (epoch 1)
    dc06.flip(GateState("DC06", 1), "DC04", reason="failback after repair", caller="alice")
    shared.clock.slept.clear()
    assert dc04.tick()["action"] == "activated"
    assert 3.4 <= sum(shared.clock.slept) <= 3.5  # waited from the flip: cache TTL + F + 1 s
    assert all(s <= 1.5 for s in shared.clock.slept)  # in steps of at most half the heartbeat TTL
    assert shared.gate.last_heartbeat("DC04") is not None  # the wait did not let its heartbeat lapse
    assert shared.switches["DC04"].enabled()


def test_gate_max_lag_s_defaults_to_one_second_and_is_wired_into_the_fence_and_the_watchdog() -> None:
    settings = Settings.from_mapping(LOCAL)
    assert settings.gate_max_lag_s == 1.0
    components = bootstrap.wire(settings, twin_ports())
    assert isinstance(components.runner.gate, CachedGate) and components.runner.gate.max_lag_s == 1.0
    assert components.queue_builder.gate is components.runner.gate
    assert components.watchdog.gate_max_lag_s == 1.0
    assert components.watchdog.fence_wait_s == settings.gate_cache_ttl_s + 1.0 + 1.0


@pytest.mark.parametrize(("lag", "heartbeat"), [("1.5", "3"), ("2", "3"), ("-1", "30")])
def test_a_bound_not_below_half_the_heartbeat_ttl_or_negative_is_refused(lag: str, heartbeat: str) -> None:
    with pytest.raises(ConfigurationError, match="GATE_MAX_LAG_S"):
        Settings.from_mapping({**LOCAL, "GATE_MAX_LAG_S": lag, "HEARTBEAT_TTL_S": heartbeat})
