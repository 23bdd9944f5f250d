"""Watchdog on a gate copy that may lag its primary (docs/drill.md finding 3, docs/failover.md
"Gate copy freshness"): a missing heartbeat counts only on a primary or a fresh replica; a stale copy
never promotes, except through the explicit link-loss policy (``PROMOTE_ON_GATE_LINK_LOSS_S``)."""

from __future__ import annotations

import math

import pytest

import bootstrap
from shared.errors import ConfigurationError, ServiceUnavailable
from shared.model import GateState
from shared.settings import Settings
from shared.telemetry import metrics
from tests.twins import InMemoryGate
from tests.unit.test_settings import LOCAL
from tests.unit.test_watchdog import make_watchdog, promote_after_death
from tests.unit.twins import Shared, twin_ports
from watchdog.controller import LAST_FAILOVER_KEY, Watchdog
from watchdog.operator import OperatorApi

STALE = "passive: gate copy stale"


@pytest.fixture
def shared() -> Shared:
    return Shared()


def dead_dc04(shared: Shared, **options: object) -> Watchdog:
    """DC04 beat once on the shared gate and died; DC06's Watchdog (TTL 3 s: lag bound 1.5 s)."""
    make_watchdog(shared, "DC04").tick()
    return make_watchdog(shared, "DC06", **options)


def ticks(shared: Shared, watchdog: Watchdog, count: int) -> list[str]:
    actions = []
    for _ in range(count):
        shared.clock.advance(1)
        actions.append(str(watchdog.tick()["action"]))
    return actions


def test_the_lag_bound_is_half_the_heartbeat_ttl(shared: Shared) -> None:
    assert make_watchdog(shared, "DC06", heartbeat_ttl_s=30.0).gate_lag_bound_s == 15.0
    assert make_watchdog(shared, "DC06").gate_lag_bound_s == 1.5


def test_a_stale_copy_never_promotes_however_many_ticks(shared: Shared) -> None:
    prepared: list[str] = []
    dc06 = dead_dc04(shared, prepare_promotion=lambda: prepared.append("replicaof no one"))
    shared.gate.replication_lag = 20.0
    actions = ticks(shared, dc06, 200)
    assert actions[:2] == ["passive", "passive"]  # DC04's heartbeat still alive on the copy (TTL 3 s)
    assert set(actions[2:]) == {
        "passive: gate copy stale (replication lag 20 s); cannot judge the active region"
    }
    assert dc06.misses == 0 and prepared == []
    assert shared.gate.read() == GateState("DC04", 1) and not shared.switches["DC06"].enabled()
    assert metrics.snapshot()["watchdog_gate_stale"] == len(actions) - 2


def test_a_fresh_replica_promotes_as_a_primary_does(shared: Shared) -> None:
    dc06 = dead_dc04(shared)
    shared.gate.replication_lag = 1.0  # below the bound of 1.5 s
    actions = promote_after_death(shared, dc06)
    assert actions[-1] == "promoted"
    assert sum(a.startswith("passive: active heartbeat missing") for a in actions) >= 2
    assert shared.gate.read() == GateState("DC06", 2)
    assert "watchdog_gate_stale" not in metrics.snapshot()


def test_a_lag_at_the_bound_is_stale(shared: Shared) -> None:
    dc06 = dead_dc04(shared)
    shared.gate.replication_lag = 1.5
    assert all(a.startswith(STALE) for a in ticks(shared, dc06, 20)[2:])
    assert shared.gate.read() == GateState("DC04", 1)


def test_misses_count_from_zero_once_the_copy_is_fresh_again(shared: Shared) -> None:
    dc06 = dead_dc04(shared)
    shared.gate.replication_lag = 0.0
    assert ticks(shared, dc06, 4)[-1] == "passive: active heartbeat missing (2/3)"
    shared.gate.replication_lag = 7.0  # the link stalls: what the copy said about the heartbeat is void
    assert ticks(shared, dc06, 1)[-1].startswith(STALE) and dc06.misses == 0
    shared.gate.replication_lag = 0.0
    assert ticks(shared, dc06, 4) == [
        "passive: active heartbeat missing (1/3)",
        "passive: active heartbeat missing (2/3)",
        "passive: active heartbeat missing (3/3)",  # 3 misses, but missing for 2 s < 2 + 1 s
        "promoted",
    ]


def test_a_copy_whose_lag_cannot_be_read_is_treated_as_cut_off(shared: Shared) -> None:
    class LagUnknown(InMemoryGate):
        def replication_lag_s(self) -> float | None:
            raise ServiceUnavailable("redis", "INFO refused")

    shared.gate = LagUnknown(clock=shared.clock.monotonic)
    dc06 = dead_dc04(shared)
    actions = ticks(shared, dc06, 20)
    assert set(actions[2:]) == {f"{STALE} (replication lag inf s); cannot judge the active region"}
    assert shared.gate.read() == GateState("DC04", 1)


# -- the link-loss policy ---------------------------------------------------------------------------


def test_link_loss_never_promotes_by_default(shared: Shared) -> None:
    dc06 = dead_dc04(shared, primary_reachable=lambda: False)  # promote_on_link_loss_s = 0
    shared.gate.replication_lag = math.inf
    assert "promoted" not in ticks(shared, dc06, 600)
    assert shared.gate.read() == GateState("DC04", 1)


def test_link_loss_promotes_once_down_long_enough_and_the_primary_is_unreachable(shared: Shared) -> None:
    prepared: list[GateState | None] = []
    dc06 = dead_dc04(
        shared,
        promote_on_link_loss_s=30.0,
        primary_reachable=lambda: False,
        prepare_promotion=lambda: prepared.append(shared.gate.read()),
    )
    shared.gate.replication_lag = math.inf
    actions = ticks(shared, dc06, 40)
    promoted_at = actions.index("promoted")
    # The link is first seen down on the third tick (DC04's heartbeat expires then), 30 s later it promotes.
    assert promoted_at == 2 + 30
    assert all(a.startswith(f"{STALE} (replication lag inf s)") for a in actions[3:promoted_at])
    assert prepared == [GateState("DC04", 1)]  # the replica is made writable, then the CAS
    assert shared.gate.read() == GateState("DC06", 2)
    last = shared.gate.get_json(LAST_FAILOVER_KEY)
    assert (
        last is not None and last["reason"] == "automatic promotion: gate link down 30 s, primary unreachable"
    )
    assert metrics.snapshot()["watchdog_link_loss_promotions"] == 1


def test_link_loss_does_not_promote_while_the_primary_answers(shared: Shared) -> None:
    dc06 = dead_dc04(shared, promote_on_link_loss_s=5.0, primary_reachable=lambda: True)
    shared.gate.replication_lag = math.inf
    assert "promoted" not in ticks(shared, dc06, 60)
    assert shared.gate.read() == GateState("DC04", 1)


def test_link_loss_needs_a_primary_probe_and_a_link_declared_down(shared: Shared) -> None:
    no_probe = dead_dc04(shared, promote_on_link_loss_s=5.0)
    shared.gate.replication_lag = math.inf
    assert "promoted" not in ticks(shared, no_probe, 60)
    held = make_watchdog(shared, "DC06", promote_on_link_loss_s=5.0, primary_reachable=lambda: False)
    shared.gate.replication_lag = 45.0  # a silent partition: the link still "up", the lag growing
    assert "promoted" not in ticks(shared, held, 60)
    assert shared.gate.read() == GateState("DC04", 1)


def test_link_loss_waits_for_an_unbroken_outage(shared: Shared) -> None:
    dc06 = dead_dc04(shared, promote_on_link_loss_s=10.0, primary_reachable=lambda: False)
    shared.gate.replication_lag = math.inf
    ticks(shared, dc06, 10)
    shared.gate.replication_lag = 20.0  # the link came back up briefly, still far behind
    ticks(shared, dc06, 1)
    shared.gate.replication_lag = math.inf
    actions = ticks(shared, dc06, 12)
    assert actions.index("promoted") == 10  # counted again from the new outage


def test_link_loss_respects_health_and_the_automatic_promotion_switch(shared: Shared) -> None:
    options: dict[str, object] = {"promote_on_link_loss_s": 5.0, "primary_reachable": lambda: False}
    unhealthy = dead_dc04(shared, healthy=False, **options)
    shared.gate.replication_lag = math.inf
    assert (
        ticks(shared, unhealthy, 20)[-1] == "passive: active heartbeat missing, but this region is unhealthy"
    )
    manual = make_watchdog(shared, "DC06", auto_promote=False, **options)
    assert ticks(shared, manual, 20)[-1] == "passive: active heartbeat missing, automatic promotion is off"
    assert shared.gate.read() == GateState("DC04", 1)


def test_the_link_loss_setting_is_wired_defaults_to_never_and_refuses_a_negative() -> None:
    default = bootstrap.wire(Settings.from_mapping(LOCAL), twin_ports()).watchdog
    assert default.promote_on_link_loss_s == 0.0
    env = {**LOCAL, "PROMOTE_ON_GATE_LINK_LOSS_S": "120"}
    assert bootstrap.wire(Settings.from_mapping(env), twin_ports()).watchdog.promote_on_link_loss_s == 120.0
    for bad in ("-1", "nan", "soon"):
        with pytest.raises(ConfigurationError, match="PROMOTE_ON_GATE_LINK_LOSS_S"):
            Settings.from_mapping({**LOCAL, "PROMOTE_ON_GATE_LINK_LOSS_S": bad})


# -- the drill's hazard (scenario 9) ----------------------------------------------------------------


def replica_of(shared: Shared) -> InMemoryGate:
    """DC06's copy of the gate as the link is held: it has DC04's state and last heartbeat, then nothing."""
    copy = InMemoryGate(clock=shared.clock.monotonic)
    state = shared.gate.read()
    assert state is not None and copy.initialise(state.active_dc) == state
    beat = shared.gate.last_heartbeat("DC04")
    assert beat is not None
    copy.heartbeat("DC04", 3.0, beat)
    return copy


def hold_replication(shared: Shared, copy: InMemoryGate, seconds: int) -> tuple[Watchdog, list[str]]:
    """DC04 stays alive and active on the primary; DC06, healthy, reads and writes its own copy."""
    dc04 = make_watchdog(shared, "DC04")
    dc06 = make_watchdog(shared, "DC06")
    dc06.gate = copy
    actions = []
    for second in range(1, seconds + 1):
        shared.clock.advance(1)
        if copy.replication_lag is not None:
            copy.replication_lag = float(second)
        assert dc04.tick()["action"] == "active"
        actions.append(str(dc06.tick()["action"]))
    assert copy.last_heartbeat("DC04") is None  # DC04's heartbeat has expired on the copy
    assert dc06.check_health()["healthy"]
    return dc06, actions


def test_drill_hazard_a_stale_copy_with_an_expired_heartbeat_does_not_flip(shared: Shared) -> None:
    make_watchdog(shared, "DC04").tick()
    copy = replica_of(shared)
    copy.replication_lag = 0.0
    _, actions = hold_replication(shared, copy, seconds=30)
    assert "promoted" not in actions and actions[-1].startswith(STALE)
    assert shared.gate.read() == GateState("DC04", 1) and copy.read() == GateState("DC04", 1)
    assert shared.switches["DC04"].enabled() and not shared.switches["DC06"].enabled()


def test_drill_hazard_without_the_lag_check_both_regions_would_be_active(shared: Shared) -> None:
    """The same hold on a copy that claims to be authoritative (the Watchdog before the fix)."""
    make_watchdog(shared, "DC04").tick()
    copy = replica_of(shared)  # replication_lag None: "I am a primary"
    _, actions = hold_replication(shared, copy, seconds=30)
    assert "promoted" in actions
    assert copy.read() == GateState("DC06", 2) and shared.gate.read() == GateState("DC04", 1)
    assert shared.switches["DC04"].enabled() and shared.switches["DC06"].enabled()  # two active


def test_status_route_shows_the_watchdogs_view_of_its_gate_copy(shared: Shared) -> None:
    dc06 = dead_dc04(shared)
    shared.gate.replication_lag = math.inf
    ticks(shared, dc06, 5)
    api = OperatorApi(region="DC06", gate=shared.gate, watchdog=dc06, replayer=dc06.replayer)
    status, body = api.status()
    assert status == 200
    assert body["watchdog"] == {
        "last_action": "passive: gate copy stale (replication lag inf s); cannot judge the active region",
        "gate_replication_lag_s": "inf",
        "gate_lag_bound_s": 1.5,
    }
    assert body["counters"]["watchdog_gate_stale"] == 3  # type: ignore[index]


# -- promotion on a replica (docs/failover.md, "Promotion on a replica") -----------------------------


def dc06_on_a_replica(shared: Shared, **options: object) -> tuple[Watchdog, InMemoryGate]:
    """DC04 beat once on the primary (``shared.gate``) and died; DC06 reads a linked replica of it."""
    make_watchdog(shared, "DC04").tick()
    replica = InMemoryGate(clock=shared.clock.monotonic, primary=shared.gate)
    assert replica.read() == GateState("DC04", 1)  # replicated
    dc06 = make_watchdog(shared, "DC06", **options)
    dc06.gate = replica
    return dc06, replica


def test_a_replica_whose_primary_answers_promotes_at_the_primary_and_stays_a_replica(shared: Shared) -> None:
    dc06, replica = dc06_on_a_replica(shared)
    actions = promote_after_death(shared, dc06)
    assert actions[-1] == "promoted"
    assert shared.gate.read() == GateState("DC06", 2)  # the flip landed on the primary ...
    assert replica.read() == GateState("DC06", 2)  # ... and replicated to DC06's copy
    assert replica.role() == "replica" and replica.primary is shared.gate  # not made writable
    last = shared.gate.get_json(LAST_FAILOVER_KEY)
    assert last is not None and (last["to"], last["epoch"]) == ("DC06", 2)
    assert shared.switches["DC06"].enabled()
    # DC06's own writes (heartbeat, activation record) reach the primary too.
    assert shared.gate.last_heartbeat("DC06") is not None
    assert (shared.gate.get_json("activated:DC06") or {}).get("epoch") == 2


def test_a_dc04_that_comes_back_reads_the_primary_and_stays_passive(shared: Shared) -> None:
    dc06, _ = dc06_on_a_replica(shared)
    assert promote_after_death(shared, dc06)[-1] == "promoted"
    dc04 = make_watchdog(shared, "DC04")  # a restarted DC04 on the primary
    for _ in range(20):
        shared.clock.advance(1)
        assert dc06.tick()["action"] == "active"
        assert dc04.tick()["action"] == "passive"  # DC06's heartbeat is on the primary
    assert not shared.switches["DC04"].enabled() and shared.gate.read() == GateState("DC06", 2)


def test_a_flip_the_copy_does_not_show_in_time_is_activated_on_a_later_tick(shared: Shared) -> None:
    dc06, replica = dc06_on_a_replica(shared)

    def replication_stalls() -> None:
        replica.linked = False  # what the copy shows stops moving; its reported lag is still 0

    dc06.prepare_promotion = replication_stalls
    actions = promote_after_death(shared, dc06)
    assert actions[-1] == "promoted at the primary; this region's gate copy does not show it yet"
    assert shared.gate.read() == GateState("DC06", 2) and replica.read() == GateState("DC04", 1)
    assert not shared.switches["DC06"].enabled()  # not activated on a copy that says DC04
    assert sum(shared.clock.slept) <= dc06.gate_lag_bound_s + 0.2  # the wait is bounded
    replica.linked = True
    shared.clock.advance(1)
    assert dc06.tick()["action"] == "activated"
    assert shared.switches["DC06"].enabled()


def test_a_replica_cut_off_from_its_primary_is_promoted_only_by_the_link_loss_policy(
    shared: Shared,
) -> None:
    dc06, replica = dc06_on_a_replica(shared, promote_on_link_loss_s=5.0)
    dc06.primary_reachable = replica.primary_reachable
    shared.gate.available = False  # DC04's Redis is gone with DC04
    replica.replication_lag = math.inf
    actions = ticks(shared, dc06, 20)
    assert "promoted" in actions
    assert replica.role() == "master" and replica.read() == GateState("DC06", 2)
    shared.gate.available = True
    assert shared.gate.read() == GateState("DC04", 1)  # the lost primary was never written
    assert shared.switches["DC06"].enabled()


def test_a_replica_cut_off_from_its_primary_is_not_promoted_by_default(shared: Shared) -> None:
    dc06, replica = dc06_on_a_replica(shared)
    dc06.primary_reachable = replica.primary_reachable
    shared.gate.available = False
    replica.replication_lag = math.inf
    assert "promoted" not in ticks(shared, dc06, 120)
    assert replica.role() == "replica" and replica.read() == GateState("DC04", 1)
