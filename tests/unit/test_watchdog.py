"""Watchdog: heartbeat, hysteresis, promotion (fence → wait → replay → enable), demotion, manual path."""

import itertools

import pytest

from shared.errors import ServiceUnavailable
from shared.model import GateState
from tests.twins import InMemoryConsumptionSwitch
from tests.unit.twins import Shared, inbound, put_statements
from watchdog.controller import ACTIVATED_KEY, LAST_FAILOVER_KEY, Watchdog
from watchdog.replay import Replayer


def make_watchdog(shared: Shared, region: str, healthy: bool = True, **options: object) -> Watchdog:
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
        "heartbeat_ttl_s": 3.0,
        "misses_required": 3,
        "cache_ttl_s": 2.0,
        "safety_margin_s": 1.0,
        "clock": shared.clock.wall,
        "sleep": shared.clock.sleep,
    }
    settings.update(options)
    return Watchdog(
        region=region,
        gate=shared.gate,
        switch=switch,
        replayer=replayer,
        probes={"blob": probe},
        **settings,  # type: ignore[arg-type]
    )


healthy_flag: dict[str, bool] = {}


@pytest.fixture
def shared() -> Shared:
    return Shared()


def test_first_tick_initialises_the_gate_and_activates_dc04(shared: Shared) -> None:
    dc04 = make_watchdog(shared, "DC04")
    result = dc04.tick()
    assert result["action"] == "activated" and shared.gate.read() == GateState("DC04", 1)
    assert shared.switches["DC04"].enabled()
    assert shared.gate.last_heartbeat("DC04") is not None
    assert dc04.tick()["action"] == "active"


def test_passive_stays_passive_while_the_active_heartbeat_is_fresh(shared: Shared) -> None:
    dc04, dc06 = make_watchdog(shared, "DC04"), make_watchdog(shared, "DC06")
    for _ in range(10):
        dc04.tick()
        assert dc06.tick()["action"] == "passive"
        shared.clock.advance(1)
    assert not shared.switches["DC06"].enabled()


def promote_after_death(shared: Shared, dc06: Watchdog) -> list[str]:
    actions = []
    for _ in range(12):
        shared.clock.advance(1)
        actions.append(str(dc06.tick()["action"]))
        if not actions[-1].startswith("passive: active heartbeat missing") and actions[-1] != "passive":
            break
    return actions


def test_promotion_after_n_misses_beyond_ttl_and_margin(shared: Shared) -> None:
    dc04, dc06 = make_watchdog(shared, "DC04"), make_watchdog(shared, "DC06")
    dc04.tick()
    dc06.tick()
    # DC04 dies: its heartbeat expires after 3 s; then 3 misses and >= 2 + 1 s missing are needed.
    actions = promote_after_death(shared, dc06)
    assert actions[-1] == "promoted"
    assert actions[:2] == ["passive", "passive"]  # heartbeat still alive (TTL 3 s)
    assert sum(a.startswith("passive: active heartbeat missing") for a in actions) >= 2
    assert shared.gate.read() == GateState("DC06", 2)
    assert shared.switches["DC06"].enabled()
    last = shared.gate.get_json(LAST_FAILOVER_KEY)
    assert last is not None and last["from"] == "DC04" and last["to"] == "DC06" and last["by"] == "watchdog"
    assert shared.gate.get_json(ACTIVATED_KEY.format(region="DC06"))["epoch"] == 2


def test_activation_waits_out_the_cache_ttl_then_replays_before_enabling(shared: Shared) -> None:
    shared.gate.initialise("DC04")
    put_statements(shared, 3)
    shared.queue_builder().run(budget_s=5)
    delivered = inbound(shared.publisher.sent[0])
    shared.runner().handle(delivered)  # one final record; two still in flight in the lost region
    shared.publisher.sent.clear()
    shared.publisher._seen.clear()  # the lost namespace's messages and dedup history are gone
    dc06 = make_watchdog(shared, "DC06")
    order: list[str] = []
    shared.switches["DC06"].set_enabled = lambda enabled: order.append(f"enable={enabled}")  # type: ignore[method-assign]
    original_run = dc06.replayer.run_slice

    def run_replay(*args, **kwargs):  # type: ignore[no-untyped-def]
        order.append("replay")
        return original_run(*args, **kwargs)

    dc06.replayer.run_slice = run_replay  # type: ignore[method-assign]
    assert promote_after_death(shared, dc06)[-1] == "promoted"
    assert order == ["replay", "enable=True"]  # replay before consuming live traffic
    # waited out the gate cache TTL + GATE_MAX_LAG_S (1 s by default) + the lag's 1 s resolution
    assert 3.9 <= sum(shared.clock.slept) <= 4.0
    assert [s.sequence for s in shared.publisher.sent] == [2, 3]  # only entries without a final record


def test_no_automatic_promotion_when_switched_off(shared: Shared) -> None:
    make_watchdog(shared, "DC04").tick()
    dc06 = make_watchdog(shared, "DC06", auto_promote=False)
    actions = promote_after_death(shared, dc06)
    assert "promoted" not in actions and actions[-1].endswith("automatic promotion is off")
    assert shared.gate.read() == GateState("DC04", 1)


def test_unhealthy_passive_does_not_promote(shared: Shared) -> None:
    make_watchdog(shared, "DC04").tick()
    dc06 = make_watchdog(shared, "DC06", healthy=False)
    actions = promote_after_death(shared, dc06)
    assert actions[-1].endswith("this region is unhealthy")
    assert shared.gate.read().active_dc == "DC04"


def test_redis_replica_is_made_writable_before_the_flip(shared: Shared) -> None:
    make_watchdog(shared, "DC04").tick()
    calls: list[GateState | None] = []
    dc06 = make_watchdog(shared, "DC06", prepare_promotion=lambda: calls.append(shared.gate.read()))
    promote_after_death(shared, dc06)
    assert calls == [GateState("DC04", 1)]  # before the compare-and-set


def test_both_deciding_at_once_only_one_flip_wins(shared: Shared) -> None:
    make_watchdog(shared, "DC04").tick()
    dc06 = make_watchdog(shared, "DC06")

    def operator_flips_first() -> None:
        shared.gate.flip(GateState("DC04", 1), "DC06")  # a manual failover wins the race

    dc06.prepare_promotion = operator_flips_first
    actions = promote_after_death(shared, dc06)
    assert actions[-1].startswith("passive: the gate changed meanwhile")
    assert shared.gate.read() == GateState("DC06", 2)  # one flip, one epoch increment
    assert dc06.tick()["action"] == "activated"  # and the region converges on the next tick


def test_active_demotes_when_unhealthy_and_the_peer_is_healthy(shared: Shared) -> None:
    dc04 = make_watchdog(shared, "DC04")
    dc06 = make_watchdog(shared, "DC06")
    dc04.tick()
    dc06.tick()
    healthy_flag["DC04"] = False
    actions = []
    for _ in range(4):
        dc06.tick()
        actions.append(dc04.tick()["action"])
    assert "demoted" in actions
    assert shared.gate.read() == GateState("DC06", 2)
    assert not shared.switches["DC04"].enabled()
    assert shared.switches["DC06"].enabled()  # DC06 activated on its next tick


def test_unhealthy_active_stays_when_the_peer_is_not_healthy(shared: Shared) -> None:
    dc04 = make_watchdog(shared, "DC04", healthy=False)
    for _ in range(5):
        assert dc04.tick()["action"] in {"activated", "active"}
    assert shared.gate.read().active_dc == "DC04"


def test_failback_is_the_same_path(shared: Shared) -> None:
    dc04, dc06 = make_watchdog(shared, "DC04"), make_watchdog(shared, "DC06")
    dc04.tick()
    promote_after_death(shared, dc06)
    dc04.tick()  # DC04 comes back: passive now, consumption off
    assert not shared.switches["DC04"].enabled()
    state = shared.gate.read()
    dc06.flip(state, "DC04", reason="failback after repair", caller="alice")
    assert dc04.tick()["action"] == "activated" and shared.switches["DC04"].enabled()
    assert dc06.tick()["action"] == "passive" and not shared.switches["DC06"].enabled()
    assert shared.gate.read() == GateState("DC04", 3)


def test_gate_unreadable_turns_this_regions_consumption_off(shared: Shared) -> None:
    dc04 = make_watchdog(shared, "DC04")
    dc04.tick()
    assert shared.switches["DC04"].enabled()
    shared.gate.available = False
    for _ in range(2):
        with pytest.raises(ServiceUnavailable):
            dc04.tick()
    assert shared.switches["DC04"].enabled()  # a blip is not an outage (hysteresis)
    with pytest.raises(ServiceUnavailable):
        dc04.tick()
    assert not shared.switches["DC04"].enabled()  # fail closed, like the runner's fence
    shared.gate.available = True
    assert dc04.tick()["action"] == "active" and shared.switches["DC04"].enabled()


def test_active_region_replays_stragglers_periodically(shared: Shared) -> None:
    """A message that left Service Bus undelivered (dead-lettered) is republished after the interval;
    one that is merely in flight (younger than the interval) is left alone."""
    dc04 = make_watchdog(shared, "DC04", replay_interval_s=60.0)
    dc04.tick()
    put_statements(shared, 1)
    shared.queue_builder().run(budget_s=5)
    lose_namespace = lambda: (shared.publisher.sent.clear(), shared.publisher._seen.clear())  # noqa: E731
    lose_namespace()  # dead-lettered: gone from the queue, no final record
    shared.clock.advance(61)
    dc04.tick()  # the first tick after activation only starts the interval
    shared.clock.advance(30)
    put_statements(shared, 1, start=5)
    shared.queue_builder().run(budget_s=5)
    lose_namespace()  # in flight (the twin forgets it; Service Bus would still hold it)
    shared.clock.advance(31)
    dc04.tick()
    assert [s.sequence for s in shared.publisher.sent] == [1]
    runner = shared.runner()
    runner.handle(inbound(shared.publisher.sent[0]))
    assert len(shared.target.delivered) == 1


def test_a_90_second_straggler_replay_never_makes_the_live_active_region_look_dead(shared: Shared) -> None:
    """Issue 14, problem 2: the replay runs in slices after the heartbeat, one per tick."""
    from tests.unit.test_replay import SlowWal  # noqa: PLC0415

    shared.wal = SlowWal(shared.clock, cost_s=0.0)
    shared.gate.initialise("DC04")
    dc04 = make_watchdog(shared, "DC04", replay_interval_s=10.0, replay_slice_s=1.0)
    dc04.replayer.monotonic = shared.clock.monotonic
    dc04.replayer.page_size = 20
    dc04.replayer.readers = 1  # the fake clock adds up every read: sequential reads measure truly
    dc06 = make_watchdog(shared, "DC06")
    assert dc04.tick()["action"] == "activated"
    put_statements(shared, 200)
    shared.queue_builder().run(budget_s=5)
    names = [s.wal_name for s in shared.publisher.sent]
    shared.publisher.sent.clear()
    shared.publisher._seen.clear()  # dead-lettered: no final records, nothing in Service Bus
    shared.wal.cost_s = 0.45  # 200 body reads: 90 s of replay
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
    assert shared.gate.read() == GateState("DC04", 1)


def test_the_cosmos_write_probe_fails_while_writes_are_unavailable(shared: Shared) -> None:
    from bootstrap import cosmos_write_probe  # noqa: PLC0415
    from shared.errors import WritesUnavailable  # noqa: PLC0415

    probe = cosmos_write_probe(shared.checkpoints, "DC04", clock=shared.clock.wall)
    assert probe() == "written"
    written = shared.checkpoints.get("health-probe:DC04")
    assert written is not None and written.at == shared.clock.now  # a real write
    shared.checkpoints.writes_available = False
    with pytest.raises(WritesUnavailable):
        probe()
    dc04 = make_watchdog(shared, "DC04")
    dc04.probes = {"cosmos_write": probe}
    assert dc04.check_health()["healthy"] is False


def test_a_90_second_activation_replay_beats_between_slices_and_the_peer_never_promotes_back(
    shared: Shared,
) -> None:
    from tests.unit.test_replay import SlowWal  # noqa: PLC0415

    shared.wal = SlowWal(shared.clock, cost_s=0.0)
    shared.gate.initialise("DC04")
    dc04 = make_watchdog(shared, "DC04")
    dc04.tick()
    put_statements(shared, 200)
    shared.queue_builder().run(budget_s=5)
    names = [s.wal_name for s in shared.publisher.sent]
    shared.publisher.sent.clear()
    shared.publisher._seen.clear()  # DC04's namespace is not DC06's: nothing of it is visible there
    dc06 = make_watchdog(shared, "DC06", replay_slice_s=1.0)
    dc06.replayer.monotonic = shared.clock.monotonic
    dc06.replayer.readers = 1  # the fake clock adds up every read
    dc06.flip(shared.gate.read(), "DC06", reason="planned failover", caller="test")  # type: ignore[arg-type]
    shared.wal.cost_s = 0.45  # 200 body reads: 90 s
    beats: list[float] = []
    original_beat = dc06._beat

    def beat() -> None:
        beats.append(shared.clock.mono)
        original_beat()

    dc06._beat = beat  # type: ignore[method-assign]
    actions = []
    for _ in range(200):
        actions.append(dc06.tick()["action"])
        assert dc04.tick()["action"] == "passive"  # DC06's heartbeat never expires
        if actions[-1] == "activated":
            break
        shared.clock.advance(1.0)
    assert actions[-1] == "activated" and actions[0].startswith("activating")
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    assert max(gaps) <= 3.0  # never longer than the heartbeat TTL (3 s here)
    assert [s.wal_name for s in shared.publisher.sent] == names
    assert shared.gate.read() == GateState("DC06", 2)
