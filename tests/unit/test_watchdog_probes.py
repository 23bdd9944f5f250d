"""The Watchdog's probes and the tick around them: the throttled Service Bus probe, and a promotion's
miss count that must not outlive the promotion (found by the demo: a failback right after DC06's
activation, with DC04 just restarted and not yet beating, was promoted straight back by DC06)."""

from __future__ import annotations

import threading

import pytest

from shared.errors import ServiceUnavailable
from shared.model import GateState
from tests.unit.test_watchdog import make_watchdog, promote_after_death
from tests.unit.twins import Shared
from watchdog.probes import FIRST_CHECK, Throttled


def test_throttled_checks_in_the_background_once_per_interval_and_repeats_the_outcome() -> None:
    now = [0.0]
    calls: list[float] = []
    failing = [False]
    release = threading.Event()

    def check() -> str:
        calls.append(now[0])
        release.wait(5)
        if failing[0]:
            raise ServiceUnavailable("servicebus", "refused")
        return "sender link opened"

    probe = Throttled(check, interval_s=30, clock=lambda: now[0])
    assert probe() == FIRST_CHECK  # the tick does not wait for the handshake
    assert probe() == FIRST_CHECK and calls == [0.0]  # one check at a time
    release.set()
    probe.wait()
    now[0] = 10.0
    assert probe() == {"last": "sender link opened", "checked_s_ago": 10.0}
    failing[0] = True
    now[0] = 29.9
    assert probe() == {"last": "sender link opened", "checked_s_ago": 29.9}
    now[0] = 30.0
    probe()  # due: starts the next check
    probe.wait()
    with pytest.raises(ServiceUnavailable, match="refused"):
        probe()
    now[0] = 45.0
    with pytest.raises(ServiceUnavailable, match="refused"):  # a failure stays a failure until rechecked
        probe()
    assert calls == [0.0, 30.0]


def test_a_failback_right_after_a_promotion_is_not_undone() -> None:
    shared = Shared()
    dc04, dc06 = make_watchdog(shared, "DC04"), make_watchdog(shared, "DC06")
    dc04.tick()
    dc06.tick()
    assert promote_after_death(shared, dc06)[-1] == "promoted"
    # DC04 restarted but has not beaten yet; an operator fails back before DC06's next tick.
    shared.gate.flip(GateState("DC06", 2), "DC04")
    assert dc06.tick()["action"] == "passive: active heartbeat missing (1/3)"
    assert shared.gate.read() == GateState("DC04", 3)
