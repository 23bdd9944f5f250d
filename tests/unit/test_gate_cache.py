"""CachedGate, the fence: reads the region's mirror at most every ttl_s, allows work only inside the
lease window of an activated epoch, and fails closed when the mirror is away."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import RegionNotActive
from shared.gate_cache import CachedGate, GateCacheStats
from shared.model import GateView, Lease
from shared.telemetry import Metrics
from tests.twins import InMemoryGateMirror

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


class FakeClocks:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.now = T0

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.now += timedelta(seconds=seconds)


def lease(active_dc: str = "DC04", epoch: int = 1, start_s: float = 0, until_s: float = 60) -> Lease:
    return Lease(
        active_dc=active_dc,
        epoch=epoch,
        lease_until=T0 + timedelta(seconds=until_s),
        not_before=T0 + timedelta(seconds=start_s),
        at=T0,
        reason="test",
        by="test",
    )


@pytest.fixture
def clocks() -> FakeClocks:
    return FakeClocks()


@pytest.fixture
def mirror() -> InMemoryGateMirror:
    mirror = InMemoryGateMirror()
    mirror.publish(GateView(lease(), activated_epoch=1))
    return mirror


def fence(mirror: InMemoryGateMirror, clocks: FakeClocks, ttl_s: float = 2.0, **kwargs: object) -> CachedGate:
    return CachedGate(mirror, ttl_s=ttl_s, guard_s=10.0, clock=clocks.monotonic, wall=clocks.wall, **kwargs)  # type: ignore[arg-type]


def test_the_holder_gets_its_lease(mirror: InMemoryGateMirror, clocks: FakeClocks) -> None:
    assert fence(mirror, clocks).check("DC04") == lease()


def test_the_other_region_is_refused(mirror: InMemoryGateMirror, clocks: FakeClocks) -> None:
    with pytest.raises(RegionNotActive, match="DC04 holds the lease") as caught:
        fence(mirror, clocks).check("DC06")
    assert caught.value.region == "DC06"


def test_a_holder_not_activated_in_the_epoch_is_refused(clocks: FakeClocks) -> None:
    mirror = InMemoryGateMirror()
    mirror.publish(GateView(lease(epoch=2), activated_epoch=1))
    with pytest.raises(RegionNotActive, match="not activated in epoch 2"):
        fence(mirror, clocks).check("DC04")


def test_nothing_before_not_before(clocks: FakeClocks) -> None:
    mirror = InMemoryGateMirror()
    mirror.publish(GateView(lease(start_s=7, until_s=67), activated_epoch=1))
    gate = fence(mirror, clocks, ttl_s=0)
    clocks.advance(6.99)
    with pytest.raises(RegionNotActive, match="starts at 2026-12-03T10:00:07"):
        gate.check("DC04")
    clocks.advance(0.01)
    assert gate.check("DC04").epoch == 1


def test_new_work_stops_a_guard_before_the_lease_ends(mirror: InMemoryGateMirror, clocks: FakeClocks) -> None:
    gate = fence(mirror, clocks)  # guard 10 s, lease until T0 + 60 s
    clocks.advance(49.99)
    assert gate.check("DC04").epoch == 1  # served from the cache...
    clocks.advance(0.01)
    with pytest.raises(RegionNotActive, match="ends at 2026-12-03T10:01:00"):
        gate.check("DC04")  # ...and the same cached view now refuses: a cache never stretches a lease


def test_an_empty_mirror_refuses(clocks: FakeClocks) -> None:
    with pytest.raises(RegionNotActive, match="mirror empty"):
        fence(InMemoryGateMirror(), clocks).check("DC04")


def test_the_view_is_cached_within_ttl_and_reread_after(
    mirror: InMemoryGateMirror, clocks: FakeClocks
) -> None:
    gate = fence(mirror, clocks)
    gate.check("DC04")
    mirror.publish(GateView(lease("DC06", 2, start_s=1, until_s=70), activated_epoch=None))
    clocks.advance(1.9)
    assert gate.check("DC04").epoch == 1  # the cached view: a newer lease shows late, never early
    clocks.advance(0.1)
    with pytest.raises(RegionNotActive):
        gate.check("DC04")
    assert gate.stats == GateCacheStats(hits=1, misses=2, errors=0)


def test_mirror_away_within_ttl_uses_the_cache(mirror: InMemoryGateMirror, clocks: FakeClocks) -> None:
    gate = fence(mirror, clocks)
    gate.check("DC04")
    mirror.available = False
    clocks.advance(1.5)
    assert gate.check("DC04").epoch == 1


def test_mirror_away_after_ttl_fails_closed(mirror: InMemoryGateMirror, clocks: FakeClocks) -> None:
    gate = fence(mirror, clocks)
    gate.check("DC04")
    mirror.available = False
    clocks.advance(2.0)
    with pytest.raises(RegionNotActive, match="unreadable") as caught:
        gate.check("DC04")
    assert caught.value.__cause__ is not None
    mirror.available = True
    assert gate.check("DC04").epoch == 1
    assert gate.stats.errors == 1


def test_ttl_counts_from_the_start_of_the_read(clocks: FakeClocks) -> None:
    class SlowMirror(InMemoryGateMirror):
        def read(self) -> GateView | None:
            clocks.advance(1.5)  # the read itself takes 1.5 s
            return super().read()

    slow = SlowMirror()
    slow.publish(GateView(lease(), 1))
    gate = fence(slow, clocks)
    gate.check("DC04")
    clocks.advance(0.5)  # 2.0 s after the read began, 0.5 s after it ended
    slow.available = False
    with pytest.raises(RegionNotActive):
        gate.check("DC04")


def test_invalidate_forces_a_read(mirror: InMemoryGateMirror, clocks: FakeClocks) -> None:
    gate = fence(mirror, clocks)
    gate.check("DC04")
    mirror.publish(GateView(lease("DC06", 2), activated_epoch=None))
    gate.invalidate()
    assert gate.current("DC04").lease.active_dc == "DC06"


def test_negative_ttl_or_guard_is_rejected(mirror: InMemoryGateMirror) -> None:
    with pytest.raises(ValueError):
        CachedGate(mirror, ttl_s=-1)
    with pytest.raises(ValueError):
        CachedGate(mirror, guard_s=-1)


def test_hits_misses_and_read_errors_are_counted_in_metrics(
    mirror: InMemoryGateMirror, clocks: FakeClocks
) -> None:
    metrics = Metrics()
    gate = fence(mirror, clocks, metrics=metrics)
    gate.check("DC04")
    gate.check("DC04")
    mirror.available = False
    clocks.advance(5)
    with pytest.raises(RegionNotActive):
        gate.check("DC04")
    assert metrics.snapshot() == {"gate_cache_hits": 1, "gate_cache_misses": 2, "gate_cache_read_errors": 1}
