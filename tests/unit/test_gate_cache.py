"""CachedGate: answers from a pair at most ttl_s old, and fails closed when the store is away."""

from __future__ import annotations

import pytest

from shared.errors import RegionNotActive
from shared.gate_cache import CachedGate, GateCacheStats
from shared.model import GateState
from shared.telemetry import Metrics
from tests.twins.gate import InMemoryGate


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def gate() -> InMemoryGate:
    gate = InMemoryGate()
    gate.initialise("DC04")
    return gate


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_active_region_gets_the_pair(gate: InMemoryGate, clock: FakeClock) -> None:
    cached = CachedGate(gate, ttl_s=2.0, clock=clock)
    assert cached.check("DC04") == GateState("DC04", 1)


def test_passive_region_is_refused(gate: InMemoryGate, clock: FakeClock) -> None:
    cached = CachedGate(gate, ttl_s=2.0, clock=clock)
    with pytest.raises(RegionNotActive) as caught:
        cached.check("DC06")
    assert caught.value.region == "DC06"
    assert "DC04 is active" in str(caught.value)


def test_uninitialised_gate_refuses_every_region(clock: FakeClock) -> None:
    cached = CachedGate(InMemoryGate(), ttl_s=2.0, clock=clock)
    for region in ("DC04", "DC06"):
        with pytest.raises(RegionNotActive, match="not initialised"):
            cached.check(region)


def test_pair_is_cached_within_ttl_and_reread_after(gate: InMemoryGate, clock: FakeClock) -> None:
    cached = CachedGate(gate, ttl_s=2.0, clock=clock)
    cached.check("DC04")
    gate.flip(GateState("DC04", 1), "DC06")
    clock.advance(1.9)
    assert cached.check("DC04") == GateState("DC04", 1)  # still the cached pair
    clock.advance(0.1)
    with pytest.raises(RegionNotActive):
        cached.check("DC04")
    assert cached.check("DC06") == GateState("DC06", 2)
    assert cached.stats == GateCacheStats(hits=2, misses=2, errors=0)


def test_store_away_within_ttl_uses_cache(gate: InMemoryGate, clock: FakeClock) -> None:
    cached = CachedGate(gate, ttl_s=2.0, clock=clock)
    cached.check("DC04")
    gate.available = False
    clock.advance(1.5)
    assert cached.check("DC04") == GateState("DC04", 1)


def test_store_away_after_ttl_fails_closed(gate: InMemoryGate, clock: FakeClock) -> None:
    cached = CachedGate(gate, ttl_s=2.0, clock=clock)
    cached.check("DC04")
    gate.available = False
    clock.advance(2.0)
    with pytest.raises(RegionNotActive, match="unreadable") as caught:
        cached.check("DC04")
    assert caught.value.__cause__ is not None
    clock.advance(60)
    with pytest.raises(RegionNotActive):
        cached.check("DC04")
    assert cached.stats.errors == 2


def test_store_away_with_nothing_cached_fails_closed(gate: InMemoryGate, clock: FakeClock) -> None:
    gate.available = False
    cached = CachedGate(gate, ttl_s=2.0, clock=clock)
    with pytest.raises(RegionNotActive):
        cached.check("DC04")


def test_store_back_after_outage_is_read_again(gate: InMemoryGate, clock: FakeClock) -> None:
    cached = CachedGate(gate, ttl_s=2.0, clock=clock)
    gate.available = False
    with pytest.raises(RegionNotActive):
        cached.check("DC04")
    gate.available = True
    assert cached.check("DC04") == GateState("DC04", 1)


def test_ttl_counts_from_the_start_of_the_read(clock: FakeClock) -> None:
    class SlowGate(InMemoryGate):
        def read(self) -> GateState | None:
            clock.advance(1.5)  # the read itself takes 1.5 s
            return super().read()

    slow = SlowGate()
    slow.initialise("DC04")
    cached = CachedGate(slow, ttl_s=2.0, clock=clock)
    cached.check("DC04")
    clock.advance(0.5)  # 2.0 s after the read began, 0.5 s after it ended
    slow.available = False
    with pytest.raises(RegionNotActive):
        cached.check("DC04")


def test_zero_ttl_reads_every_time(gate: InMemoryGate, clock: FakeClock) -> None:
    cached = CachedGate(gate, ttl_s=0, clock=clock)
    cached.check("DC04")
    cached.check("DC04")
    assert cached.stats == GateCacheStats(hits=0, misses=2, errors=0)


def test_invalidate_forces_a_read(gate: InMemoryGate, clock: FakeClock) -> None:
    cached = CachedGate(gate, ttl_s=2.0, clock=clock)
    cached.check("DC04")
    gate.flip(GateState("DC04", 1), "DC06")
    cached.invalidate()
    assert cached.check("DC06") == GateState("DC06", 2)


def test_current_returns_the_pair_for_any_region(gate: InMemoryGate, clock: FakeClock) -> None:
    cached = CachedGate(gate, ttl_s=2.0, clock=clock)
    assert cached.current("DC06") == GateState("DC04", 1)


def test_negative_ttl_is_rejected(gate: InMemoryGate) -> None:
    with pytest.raises(ValueError):
        CachedGate(gate, ttl_s=-1)


def test_hits_misses_and_read_errors_are_counted_in_metrics(gate: InMemoryGate, clock: FakeClock) -> None:
    metrics = Metrics()
    cached = CachedGate(gate, ttl_s=2.0, clock=clock, metrics=metrics)
    cached.check("DC04")
    cached.check("DC04")
    gate.available = False
    clock.advance(5)
    with pytest.raises(RegionNotActive):
        cached.check("DC04")
    assert metrics.snapshot() == {"gate_cache_hits": 1, "gate_cache_misses": 2, "gate_cache_read_errors": 1}
