"""Watchdog on twins: the region lease (renew first, demote on a lost renewal, promote only after the
lease plus the clock-skew margin on WATCHDOG_MISSES ticks), activation (not_before → replay → record →
consume), manual failover, Cosmos write outage, failback and planned cycles.

The windows are checked with :class:`Timeline`: a fake clock stepped in 50 ms slices, both Watchdogs
ticking at their interval (each with its own wall clock, skewed up to CLOCK_SKEW_S), and both regions'
fences (:class:`~shared.gate_cache.CachedGate` on their own mirror) asked at every slice, so "at no
instant both regions' fences allow work" is asserted, not argued.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest

from shared.errors import RegionNotActive, ServiceUnavailable
from shared.gate_cache import CachedGate
from shared.model import REGIONS, Lease
from shared.ports import RegionAuthority
from tests.twins import InMemoryConsumptionSwitch
from tests.unit.twins import Shared, inbound, put_statements
from watchdog.controller import Watchdog
from watchdog.operator import OperatorApi
from watchdog.replay import Replayer

LEASE_S, SKEW_S, GUARD_S = 6.0, 1.0, 1.5  # the local host's values (dev/host.py FAST_SETTINGS)
STEP_S = 0.05

healthy_flag: dict[str, bool] = {}


def make_watchdog(
    shared: Shared,
    region: str,
    healthy: bool = True,
    wall: Callable[[], datetime] | None = None,
    **options: object,
) -> Watchdog:
    def probe() -> str:
        if not healthy_flag[region]:
            raise ConnectionError("blob unreachable")
        return "ok"

    healthy_flag[region] = healthy
    switch = shared.switches.setdefault(region, InMemoryConsumptionSwitch())
    replayer = Replayer(
        wal=shared.wal, store=shared.store, publisher=shared.publisher, checkpoints=shared.checkpoints
    )
    settings: dict[str, object] = {
        "role": "active" if region == "DC04" else "passive",
        "lease_s": LEASE_S,
        "skew_s": SKEW_S,
        "guard_s": GUARD_S,
        "heartbeat_ttl_s": 3.0,
        "misses_required": 3,
        "clock": wall or shared.clock.wall,
        "sleep": shared.clock.sleep,
    }
    settings.update(options)
    return Watchdog(
        region=region,
        authority=shared.authority,
        mirror=shared.mirrors[region],
        checkpoints=shared.checkpoints,
        heartbeats=shared.heartbeats,
        switch=switch,
        replayer=replayer,
        probes={"blob": probe},
        **settings,  # type: ignore[arg-type]
    )


@pytest.fixture
def shared() -> Shared:
    return Shared()


def lease(shared: Shared) -> Lease:
    current = shared.authority.read()
    assert current is not None
    return current


# -- the timeline ------------------------------------------------------------------------------------


@dataclass
class Timeline:
    """Both regions on one fake clock: Watchdogs tick every ``interval_s`` (while ``alive``), fences
    are asked every :data:`STEP_S`; ``skew`` shifts each region's wall clock (seconds)."""

    shared: Shared
    skew: dict[str, float] = field(default_factory=lambda: dict.fromkeys(REGIONS, 0.0))
    interval_s: float = 1.0
    alive: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(REGIONS, True))
    watchdogs: dict[str, Watchdog] = field(default_factory=dict)
    fences: dict[str, CachedGate] = field(default_factory=dict)
    open_at: dict[str, list[datetime]] = field(default_factory=lambda: {r: [] for r in REGIONS})
    overlaps: list[datetime] = field(default_factory=list)
    actions: dict[str, list[str]] = field(default_factory=lambda: {r: [] for r in REGIONS})
    _next: dict[str, datetime] = field(default_factory=dict)
    _busy: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for region in REGIONS:
            wall = self.wall(region)
            self.watchdogs[region] = make_watchdog(self.shared, region, wall=wall, sleep=self.sleep)
            self.fences[region] = CachedGate(
                self.shared.mirrors[region],
                ttl_s=1.0,
                guard_s=GUARD_S,
                clock=self.shared.clock.monotonic,
                wall=wall,
            )
            self._next[region] = self.shared.clock.now

    def wall(self, region: str) -> Callable[[], datetime]:
        return lambda: self.shared.clock.now + timedelta(seconds=self.skew[region])

    def sleep(self, seconds: float) -> None:
        """Time passes: the other Watchdog keeps ticking and both fences are asked at every slice."""
        end = self.shared.clock.now + timedelta(seconds=seconds)
        while self.shared.clock.now < end:
            step = min(STEP_S, (end - self.shared.clock.now).total_seconds())
            self.shared.clock.advance(step)
            self._observe()
            self._tick_due()

    run = sleep

    def run_until(self, done: Callable[[], bool], within_s: float = 120.0) -> float:
        started = self.shared.clock.now
        while not done():
            assert (self.shared.clock.now - started).total_seconds() < within_s, "timed out"
            self.sleep(STEP_S)
        return (self.shared.clock.now - started).total_seconds()

    def allowed(self, region: str) -> bool:
        try:
            self.fences[region].check(region)
        except RegionNotActive:
            return False
        return True

    def _observe(self) -> None:
        now = self.shared.clock.now
        allowed = [region for region in REGIONS if self.allowed(region)]
        for region in allowed:
            self.open_at[region].append(now)
        if len(allowed) > 1:
            self.overlaps.append(now)

    def _tick_due(self) -> None:
        for region, watchdog in self.watchdogs.items():
            if region in self._busy or not self.alive[region] or self.shared.clock.now < self._next[region]:
                continue
            self._busy.add(region)
            try:
                self.actions[region].append(str(watchdog.tick()["action"]))
            finally:
                self._busy.discard(region)
            self._next[region] = self.shared.clock.now + timedelta(seconds=self.interval_s)

    def shift(self, region: str, seconds: float) -> None:
        """Move ``region``'s next tick by ``seconds`` (its ticks then keep that phase)."""
        self._next[region] += timedelta(seconds=seconds)

    def first_open(self, region: str, after: datetime) -> datetime | None:
        return next((t for t in self.open_at[region] if t > after), None)

    def last_open(self, region: str) -> datetime | None:
        return self.open_at[region][-1] if self.open_at[region] else None

    def operator(self, region: str) -> OperatorApi:
        watchdog = self.watchdogs[region]
        return OperatorApi(
            region=region,
            authority=self.shared.authority,
            checkpoints=self.shared.checkpoints,
            heartbeats=self.shared.heartbeats,
            watchdog=watchdog,
            replayer=watchdog.replayer,
            min_failover_interval_s=0.0,
            clock=watchdog.clock,
        )


@pytest.fixture
def timeline(shared: Shared) -> Timeline:
    line = Timeline(shared)
    line.run_until(lambda: line.allowed("DC04"), within_s=5)
    return line


# -- start ---------------------------------------------------------------------------------------


def test_the_active_role_initialises_the_lease_and_activates(shared: Shared) -> None:
    dc04 = make_watchdog(shared, "DC04")
    assert dc04.tick()["action"] == "activated"
    first = lease(shared)
    assert (first.active_dc, first.epoch, first.not_before) == ("DC04", 1, shared.clock.now)
    assert first.lease_until == shared.clock.now + timedelta(seconds=LEASE_S)
    assert shared.switches["DC04"].enabled()
    activation = shared.checkpoints.activation("DC04")
    assert activation is not None and activation.epoch == 1
    view = shared.mirrors["DC04"].read()
    assert view is not None and (view.lease.epoch, view.activated_epoch) == (1, 1)
    assert dc04.tick()["action"] == "active"


def test_the_passive_role_never_initialises(shared: Shared) -> None:
    dc06 = make_watchdog(shared, "DC06")
    for _ in range(5):
        assert "not initialised" in str(dc06.tick()["action"])
        shared.clock.advance(1)
    assert shared.authority.read() is None and not shared.switches["DC06"].enabled()


def test_every_tick_renews_the_lease_first(shared: Shared) -> None:
    dc04 = make_watchdog(shared, "DC04")
    dc04.tick()
    for _ in range(10):
        shared.clock.advance(1)
        dc04.tick()
        assert lease(shared).lease_until == shared.clock.now + timedelta(seconds=LEASE_S)
    assert lease(shared).epoch == 1


# -- automatic promotion: lease expiry and skew -----------------------------------------------------


def test_promotion_only_after_the_lease_plus_skew_on_n_ticks(timeline: Timeline) -> None:
    shared = timeline.shared
    timeline.run(5)
    assert all(a == "passive" for a in timeline.actions["DC06"])
    timeline.alive["DC04"] = False  # DC04 dies: no more renewals
    died_at = shared.clock.now
    held = lease(shared)
    timeline.run_until(lambda: lease(shared).active_dc == "DC06", within_s=30)
    moved = lease(shared)
    # The lease ended at held.lease_until; DC06 counts only ticks at or after lease_until + skew,
    # and needs three of them (1 s apart): the transfer cannot come earlier than that.
    assert moved.at >= held.lease_until + timedelta(seconds=SKEW_S + 2 * timeline.interval_s)
    assert (moved.epoch, moved.previous_dc, moved.by) == (2, "DC04", "watchdog")
    assert moved.not_before == moved.at  # the old lease had ended: the new one starts at once
    timeline.run_until(lambda: timeline.allowed("DC06"), within_s=5)
    assert not timeline.overlaps
    last_dc04 = timeline.last_open("DC04")
    assert last_dc04 is not None and last_dc04 < held.lease_until - timedelta(seconds=GUARD_S)
    assert died_at < held.lease_until
    assert shared.switches["DC06"].enabled()


def test_skewed_clocks_never_give_two_open_fences(shared: Shared) -> None:
    """DC06's clock runs SKEW_S - 0.05 s ahead of DC04's: it sees DC04's lease end early, yet the
    skew margin keeps its fence shut until DC04's own clock has closed DC04's."""
    timeline = Timeline(shared, skew={"DC04": 0.0, "DC06": SKEW_S - 0.05})
    timeline.run_until(lambda: timeline.allowed("DC04"), within_s=5)
    timeline.run(3)
    timeline.alive["DC04"] = False
    timeline.run_until(lambda: timeline.allowed("DC06"), within_s=30)
    timeline.run(3)
    assert not timeline.overlaps


class CutOff(RegionAuthority):
    """One region's road to the authority: ``cut`` makes every call fail as a partition would."""

    def __init__(self, authority: RegionAuthority) -> None:
        self.authority = authority
        self.cut = False

    def _road(self) -> RegionAuthority:
        if self.cut:
            raise ServiceUnavailable("cosmos", "ConnectionTimeout: region isolated (test)")
        return self.authority

    def read(self) -> Lease | None:
        return self._road().read()

    def create(self, lease: Lease) -> Lease:
        return self._road().create(lease)

    def swap(self, expected: Lease, new: Lease) -> Lease:
        return self._road().swap(expected, new)


def isolated_timeline(shared: Shared, skew_s: float, dc06_ahead_s: float) -> tuple[Timeline, CutOff]:
    timeline = Timeline(shared, skew={"DC04": 0.0, "DC06": dc06_ahead_s})
    road = CutOff(shared.authority)
    timeline.watchdogs["DC04"].authority = road
    for watchdog in timeline.watchdogs.values():
        watchdog.skew_s = skew_s
        watchdog.misses_required = 1  # no help from the hysteresis: the margins alone must hold
    for fence in timeline.fences.values():
        fence.ttl_s = 0.0  # nor from the cache (a cached view only ever opens a fence late)
    timeline.run_until(lambda: timeline.allowed("DC04"), within_s=5)
    timeline.run(3)
    timeline.shift("DC06", 0.5)  # DC06 ticks half an interval after DC04: no luck from alignment
    return timeline, road


def test_an_isolated_holder_stops_before_the_promoted_region_starts(shared: Shared) -> None:
    """DC04 stays alive and its fences keep reading its own mirror, but it cannot reach the authority
    (region isolated): it cannot renew, its fence closes at lease_until - guard by its clock; DC06
    (clock SKEW_S - 0.05 s ahead) promotes after lease_until + skew by its clock. Never both open."""
    timeline, road = isolated_timeline(shared, SKEW_S, SKEW_S - 0.05)
    road.cut = True
    timeline.run_until(lambda: timeline.allowed("DC06"), within_s=30)
    timeline.run(5)
    assert lease(shared).active_dc == "DC06" and timeline.alive["DC04"]
    assert not timeline.overlaps


def test_without_guard_and_skew_margin_the_timeline_sees_two_active_regions(shared: Shared) -> None:
    """The check above can fail: with no skew margin and no guard the same isolation overlaps."""
    timeline, road = isolated_timeline(shared, 0.0, SKEW_S - 0.05)
    for fence in timeline.fences.values():
        fence.guard_s = 0.0
    road.cut = True
    timeline.run_until(lambda: timeline.allowed("DC06"), within_s=30)
    timeline.run(2)
    assert timeline.overlaps


def test_a_live_holder_is_never_promoted_over(timeline: Timeline) -> None:
    timeline.run(60)
    assert lease(timeline.shared).epoch == 1
    assert set(timeline.actions["DC06"]) == {"passive"}
    assert not timeline.overlaps


def test_no_automatic_promotion_when_switched_off(timeline: Timeline) -> None:
    timeline.watchdogs["DC06"].auto_promote = False
    timeline.alive["DC04"] = False
    timeline.run(20)
    assert lease(timeline.shared).active_dc == "DC04"
    assert timeline.actions["DC06"][-1].endswith("automatic promotion is off")


def test_an_unhealthy_passive_does_not_promote(timeline: Timeline) -> None:
    healthy_flag["DC06"] = False
    timeline.alive["DC04"] = False
    timeline.run(20)
    assert lease(timeline.shared).active_dc == "DC04"
    assert timeline.actions["DC06"][-1].endswith("this region is unhealthy")


def test_promotion_replays_the_backlog_before_consuming(shared: Shared) -> None:
    make_watchdog(shared, "DC04").tick()
    put_statements(shared, 3)
    shared.queue_builder().run(budget_s=5)
    shared.runner().handle(inbound(shared.publisher.sent[0]))  # one final record, two in flight
    shared.publisher.sent.clear()
    shared.publisher._seen.clear()  # DC04's namespace is lost with its messages
    dc06 = make_watchdog(shared, "DC06")
    order: list[str] = []
    switch = shared.switches["DC06"]
    original_set = switch.set_enabled

    def set_enabled(enabled: bool) -> None:
        order.append(f"enable={enabled}")
        original_set(enabled)

    switch.set_enabled = set_enabled  # type: ignore[method-assign]
    original_run = dc06.replayer.run_slice

    def run_replay(*args, **kwargs):
        order.append("replay")
        return original_run(*args, **kwargs)

    dc06.replayer.run_slice = run_replay  # type: ignore[method-assign]
    actions = []
    for _ in range(15):
        shared.clock.advance(1)
        actions.append(str(dc06.tick()["action"]))
    assert "promoted; activated" in actions
    assert order == ["replay", "enable=True"]
    assert [s.sequence for s in shared.publisher.sent] == [2, 3]  # only entries without a final record
    activation = shared.checkpoints.activation("DC06")
    assert activation is not None and (activation.epoch, activation.replayed) == (2, 2)


# -- transfer while the old holder still renews ------------------------------------------------------


def test_a_transfer_makes_the_renewing_holder_demote_with_no_overlap(timeline: Timeline) -> None:
    shared = timeline.shared
    timeline.run(3)
    before = lease(shared)
    status, answer = timeline.operator("DC04").failover({"target": "DC06", "reason": "planned move"}, "alice")
    assert status == 202 and answer["epoch"] == 2
    moved = lease(shared)
    assert moved.not_before == before.lease_until + timedelta(seconds=SKEW_S)
    transferred_at = shared.clock.now
    view = shared.mirrors["DC04"].read()
    assert view is not None and view.lease.active_dc == "DC06"  # DC04's mirror shows it at once
    timeline.run(1.05)  # one fence cache TTL
    assert not timeline.allowed("DC04")
    timeline.run(0.5)
    assert timeline.actions["DC04"][-1] == "passive" and not shared.switches["DC04"].enabled()
    timeline.run_until(lambda: timeline.allowed("DC06"), within_s=20)
    first_dc06 = timeline.first_open("DC06", transferred_at)
    assert first_dc06 is not None and first_dc06 >= moved.not_before
    last_dc04 = timeline.last_open("DC04")
    assert last_dc04 is not None and last_dc04 < transferred_at + timedelta(seconds=2.1)  # next tick + cache
    assert not timeline.overlaps
    assert lease(shared).epoch == 2


def test_a_renewal_that_loses_its_compare_and_set_demotes_at_once(shared: Shared) -> None:
    """The transfer lands between the holder's read and its renewal: the CAS fails, it demotes."""
    dc04 = make_watchdog(shared, "DC04")
    dc04.tick()
    read = shared.authority.read

    def read_then_transfer() -> Lease | None:
        seen = read()
        assert seen is not None
        shared.authority.transfer(
            seen, "DC06", reason="race", by="ops", now=shared.clock.now, lease_s=LEASE_S, skew_s=SKEW_S
        )
        return seen

    shared.authority.read = read_then_transfer  # type: ignore[method-assign]
    assert dc04.tick()["action"] == "demoted: lease lost (another decision moved it)"
    assert not shared.switches["DC04"].enabled()
    view = shared.mirrors["DC04"].read()
    assert view is not None and view.lease.active_dc == "DC06"  # the fences follow at once
    assert lease(shared).epoch == 2


# -- manual failover ---------------------------------------------------------------------------------


def test_manual_failover_waits_for_not_before(timeline: Timeline) -> None:
    shared = timeline.shared
    timeline.run(2)
    status, answer = timeline.operator("DC06").failover({"target": "DC06", "reason": "planned"}, "bob")
    assert status == 202
    not_before = datetime.fromisoformat(str(answer["not_before"]))
    assert not_before > shared.clock.now + timedelta(seconds=LEASE_S - 1)
    timeline.run_until(lambda: timeline.allowed("DC06"), within_s=20)
    first = timeline.first_open("DC06", not_before - timedelta(seconds=30))
    assert first is not None and first >= not_before
    assert any(a == "activated" for a in timeline.actions["DC06"])
    assert "demoted: the lease moved to DC06 (epoch 2)" in timeline.actions["DC04"]
    assert not shared.switches["DC04"].enabled()
    assert not timeline.overlaps


def test_manual_failover_refuses_an_unhealthy_target_unless_forced(timeline: Timeline) -> None:
    healthy_flag["DC06"] = False
    timeline.run(2)
    api = timeline.operator("DC04")
    status, answer = api.failover({"target": "DC06", "reason": "planned move"}, "carol")
    assert status == 409 and "not healthy" in str(answer["error"])
    assert lease(timeline.shared).epoch == 1
    assert api.failover({"target": "DC06", "reason": "DC04 is on fire", "force": True}, "carol")[0] == 202


# -- Cosmos write outage ----------------------------------------------------------------------------


def cosmos_writes(shared: Shared, available: bool) -> None:
    for twin in (shared.authority, shared.checkpoints, shared.heartbeats, shared.sequences):
        twin.writes_available = available


def test_a_cosmos_write_outage_closes_the_fence_at_lease_end_and_promotes_nobody(timeline: Timeline) -> None:
    shared = timeline.shared
    timeline.run(2)
    held = lease(shared)
    cosmos_writes(shared, False)
    outage_at = shared.clock.now
    timeline.run(30)
    assert lease(shared) == held  # no renewal, no transfer
    last_dc04 = timeline.last_open("DC04")
    assert last_dc04 is not None and last_dc04 < held.lease_until - timedelta(seconds=GUARD_S)
    assert not shared.switches["DC04"].enabled()  # the holder stops consuming once its lease ended
    assert any(a.startswith("passive: promotion failed") for a in timeline.actions["DC06"])
    assert not timeline.open_at["DC06"]
    cosmos_writes(shared, True)
    timeline.run_until(lambda: timeline.allowed("DC04") or timeline.allowed("DC06"), within_s=10)
    assert not timeline.overlaps
    assert outage_at < held.lease_until


# -- failback and cycles ----------------------------------------------------------------------------


def test_failback_is_the_same_path(timeline: Timeline) -> None:
    shared = timeline.shared
    assert timeline.operator("DC04").failover({"target": "DC06", "reason": "maintenance"}, "ops")[0] == 202
    timeline.run_until(lambda: timeline.allowed("DC06"), within_s=20)
    assert timeline.operator("DC06").failover({"target": "DC04", "reason": "failback done"}, "ops")[0] == 202
    timeline.run_until(lambda: timeline.allowed("DC04"), within_s=20)
    final = lease(shared)
    assert (final.active_dc, final.epoch, final.previous_dc) == ("DC04", 3, "DC06")
    assert shared.switches["DC04"].enabled() and not shared.switches["DC06"].enabled()
    assert not timeline.overlaps


def test_five_planned_cycles_in_a_row(timeline: Timeline) -> None:
    shared = timeline.shared
    took: list[float] = []
    for cycle in range(5):
        for target in ("DC06", "DC04"):
            other = "DC04" if target == "DC06" else "DC06"
            status, _ = timeline.operator(other).failover(
                {"target": target, "reason": f"cycle {cycle}"}, "ops"
            )
            assert status == 202
            took.append(timeline.run_until(lambda t=target: timeline.allowed(t), within_s=20))  # type: ignore[misc]
            timeline.run(1.5)
    assert lease(shared).epoch == 11 and lease(shared).active_dc == "DC04"
    assert not timeline.overlaps
    # each move waits out the remaining lease plus the skew margin, at most LEASE_S + SKEW_S + a tick
    assert max(took) <= LEASE_S + SKEW_S + 2 * timeline.interval_s


# -- demotion and outages of the authority ----------------------------------------------------------


def test_an_unhealthy_holder_hands_over_to_a_healthy_peer(timeline: Timeline) -> None:
    shared = timeline.shared
    timeline.run(2)
    healthy_flag["DC04"] = False
    timeline.run_until(lambda: timeline.allowed("DC06"), within_s=30)
    assert "demoted: handed over to DC06 (epoch 2)" in timeline.actions["DC04"]
    moved = lease(shared)
    assert moved.active_dc == "DC06" and moved.reason == "automatic demotion: own region unhealthy"
    assert not shared.switches["DC04"].enabled()
    assert not timeline.overlaps


def test_an_unhealthy_holder_stays_when_the_peer_is_not_healthy(timeline: Timeline) -> None:
    healthy_flag["DC04"] = False
    healthy_flag["DC06"] = False
    timeline.run(10)
    assert lease(timeline.shared).active_dc == "DC04" and timeline.allowed("DC04")


def test_an_unreadable_authority_turns_consumption_off_after_n_ticks(shared: Shared) -> None:
    dc04 = make_watchdog(shared, "DC04")
    dc04.tick()
    shared.authority.available = False
    for _ in range(2):
        shared.clock.advance(1)
        assert dc04.tick()["action"] == "authority unreadable"
    assert shared.switches["DC04"].enabled()  # a blip is not an outage
    shared.clock.advance(1)
    dc04.tick()
    assert not shared.switches["DC04"].enabled()
    shared.authority.available = True
    shared.clock.advance(1)
    assert dc04.tick()["action"] == "active" and shared.switches["DC04"].enabled()


def test_a_lost_mirror_fails_the_fence_closed(timeline: Timeline) -> None:
    timeline.shared.mirrors["DC04"].available = False
    timeline.run(3)
    assert not timeline.allowed("DC04")
    assert lease(timeline.shared).active_dc == "DC04"  # Redis is never the authority


def test_the_active_region_replays_stragglers_periodically(shared: Shared) -> None:
    dc04 = make_watchdog(shared, "DC04", replay_interval_s=60.0, lease_s=600.0)
    dc04.tick()
    put_statements(shared, 1)
    shared.queue_builder().run(budget_s=5)

    def lose_namespace() -> None:
        shared.publisher.sent.clear()
        shared.publisher._seen.clear()

    lose_namespace()  # dead-lettered: gone from the queue, no final record
    shared.clock.advance(61)
    dc04.tick()
    shared.clock.advance(30)
    put_statements(shared, 1, start=5)
    shared.queue_builder().run(budget_s=5)
    lose_namespace()  # in flight (the twin forgets it; Service Bus would still hold it)
    shared.clock.advance(31)
    dc04.tick()
    assert [s.sequence for s in shared.publisher.sent] == [1]


def test_a_90_second_straggler_replay_never_makes_the_live_active_region_look_dead(shared: Shared) -> None:
    """Issue 14, problem 2: the replay runs in slices after the heartbeat, one per tick."""
    from tests.unit.test_replay import SlowWal  # noqa: PLC0415

    shared.wal = SlowWal(shared.clock, cost_s=0.0)
    dc04 = make_watchdog(shared, "DC04", replay_interval_s=10.0, replay_slice_s=1.0)
    dc04.replayer.monotonic = shared.clock.monotonic
    dc04.replayer.page_size = 20
    dc04.replayer.readers = 1  # the fake clock adds up every read: sequential reads measure truly
    dc06 = make_watchdog(shared, "DC06")
    assert dc04.tick()["action"] == "activated"
    put_statements(shared, 200)
    shared.queue_builder(batch_size=1).run(budget_s=5)  # 200 units of one: 200 segments
    names = [s.wal_name for s in shared.publisher.sent]
    shared.publisher.sent.clear()
    shared.publisher._seen.clear()  # dead-lettered: no final records, nothing in Service Bus
    shared.wal.cost_s = 0.45  # at least 200 segment reads: 90 s of replay or more
    dc04.tick()
    shared.clock.advance(11)  # the straggler interval has passed
    durations = []
    for _ in range(400):
        started = shared.clock.mono
        assert dc04.tick()["action"] == "active"
        durations.append(shared.clock.mono - started)
        assert dc06.tick()["action"] == "passive"  # DC04's heartbeat is always there
        if len(shared.publisher.sent) == 200:
            break
        shared.clock.advance(0.5)
    assert max(durations) <= 1.0 + 2 * 0.45  # the slice budget, plus the call that crossed it
    assert sum(durations) >= 90
    assert [s.wal_name for s in shared.publisher.sent] == names
    assert (lease(shared).active_dc, lease(shared).epoch) == ("DC04", 1)


def test_the_cosmos_write_probe_fails_while_writes_are_unavailable(shared: Shared) -> None:
    from shared.errors import WritesUnavailable  # noqa: PLC0415
    from watchdog.probes import cosmos_write_probe  # noqa: PLC0415

    probe = cosmos_write_probe(shared.checkpoints, "DC04", clock=shared.clock.wall)
    assert probe() == "written"
    written = shared.checkpoints.get("health-probe:DC04")
    assert written is not None and written.at == shared.clock.now  # a real write
    shared.checkpoints.writes_available = False
    with pytest.raises(WritesUnavailable):
        probe()
    dc04 = make_watchdog(shared, "DC04")
    dc04.probes = {"cosmos_write": probe}
    assert [(p.name, p.ok) for p in dc04.check_health()] == [("cosmos_write", False)]


def test_activation_replays_slice_after_slice_renewing_the_lease_between_them(shared: Shared) -> None:
    """A long activation replay runs bounded slices for up to LEASE_S / 2 per tick, renewing after each
    slice, so the new holder's lease never lapses while it replays and activation takes few ticks."""
    from tests.unit.test_replay import SlowWal  # noqa: PLC0415

    shared.wal = SlowWal(shared.clock, cost_s=0.0)
    make_watchdog(shared, "DC04").tick()
    put_statements(shared, 40)
    shared.queue_builder(batch_size=1).run(budget_s=5)  # 40 segments of one statement
    shared.publisher.sent.clear()
    shared.publisher._seen.clear()  # DC04's namespace is lost: all 40 need the replay
    # Every storage call 0.1 s: 40 index reads, 40 body reads and 15 listings, 9.5 s of replay.
    shared.wal.cost_s = 0.1
    dc06 = make_watchdog(shared, "DC06", replay_slice_s=0.5)
    dc06.replayer.monotonic = shared.clock.monotonic
    dc06.replayer.page_size = 5
    dc06.replayer.readers = 1  # one body read at a time: the fake clock counts each
    actions, lapsed = [], []
    for _ in range(30):
        shared.clock.advance(1)
        actions.append(str(dc06.tick()["action"]))
        current = lease(shared)
        if current.active_dc == "DC06" and current.lease_until <= shared.clock.now:
            lapsed.append(shared.clock.now)
        if actions[-1].endswith("activated"):
            break
    assert actions[-1] == "activated"
    assert actions.count("activating: replaying the WAL") == 2  # 9.5 s of replay, 3 s (LEASE_S / 2) per tick
    assert not lapsed
    assert len(shared.publisher.sent) == 40
    activation = shared.checkpoints.activation("DC06")
    assert activation is not None and activation.replayed == 40


# -- one question per tick --------------------------------------------------------------------------


def test_the_control_probes_answer_from_the_ticks_own_lease_read_and_renewal(shared: Shared) -> None:
    """A tick reads the lease (and, on the holder, renews it) before its probes; the control-container
    probes answer from those calls instead of repeating them, and make their own call when the tick's
    call failed or was not made (a passive region writes its probe item; a failed renewal is followed
    by the probe's own write, which fails the same way)."""
    from watchdog.probes import region_probes  # noqa: PLC0415

    calls: list[str] = []

    def counted(twin: object, name: str) -> None:
        method = getattr(twin, name)

        def call(*args: object, **kwargs: object) -> object:
            calls.append(f"{type(twin).__name__}.{name}")
            return method(*args, **kwargs)

        setattr(twin, name, call)

    counted(shared.authority, "read")
    counted(shared.authority, "swap")
    counted(shared.checkpoints, "put")
    watchdogs = {region: make_watchdog(shared, region) for region in REGIONS}
    for region, watchdog in watchdogs.items():
        watchdog.probes = {
            name: probe
            for name, probe in region_probes(
                region=region,
                mirror=shared.mirrors[region],
                authority=shared.authority,
                checkpoints=shared.checkpoints,
                heartbeats=shared.heartbeats,
                wal=shared.wal,
                store=shared.store,
                mq=shared.mq,
                publisher=shared.publisher,
                target=shared.target,
                stale_s=30,
                clock=shared.clock.wall,
                evidence=watchdog.evidence,
            ).items()
            if name in ("cosmos_control", "cosmos_write")
        }
    watchdogs["DC04"].tick()  # initialises and activates
    shared.clock.advance(1.0)
    calls.clear()
    watchdogs["DC04"].tick()  # the holder: one read, one renewal, no probe call of its own
    assert calls == ["InMemoryRegionAuthority.read", "InMemoryRegionAuthority.swap"]
    assert watchdogs["DC04"].check_health()[0].detail == "lease read by this tick"
    calls.clear()
    watchdogs["DC06"].tick()  # passive: its read answers one probe, the write probe writes
    assert calls == ["InMemoryRegionAuthority.read", "InMemoryCheckpointStore.put"]
    calls.clear()
    cosmos_writes(shared, False)
    shared.clock.advance(1.0)
    watchdogs["DC04"].tick()  # the renewal fails: the write probe writes itself, and fails
    assert calls == [
        "InMemoryRegionAuthority.read",
        "InMemoryRegionAuthority.swap",
        "InMemoryCheckpointStore.put",
    ]
    health = watchdogs["DC04"].check_health()  # the failed tick's evidence: the read only
    assert [(p.name, p.ok) for p in health] == [("cosmos_control", True), ("cosmos_write", False)]
