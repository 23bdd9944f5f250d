"""The Watchdog's throttled Service Bus probe: checked in the background, at most once per interval,
so a tick never waits for a Service Bus handshake."""

from __future__ import annotations

import threading

import pytest

from shared.errors import ServiceUnavailable
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
