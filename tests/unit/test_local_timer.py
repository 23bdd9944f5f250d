"""The local host's timer (dev/region.py ``every``) fires on a fixed grid as a ``*/N`` schedule does:
after a run, at the next slot of start + k x interval, never an interval after the run's end (the
WebJobs timer schedules the next occurrence after the invocation completes; docs/deployment.md)."""

from __future__ import annotations

import threading

from dev.region import every, next_slot_s


def test_the_next_slot_is_the_next_multiple_of_the_interval() -> None:
    assert next_slot_s(0.0, 1.0) == 1.0
    assert next_slot_s(9.5, 10.0) == 0.5  # a 9.5 s drain: the next run starts at 10 s, not 19.5 s
    assert round(next_slot_s(0.3, 10.0), 6) == 9.7
    assert round(next_slot_s(10.2, 10.0), 6) == 9.8  # a run past its slot: the slot after


def test_every_runs_at_once_then_on_the_grid() -> None:
    now = [100.0]
    runs: list[float] = []
    stop = threading.Event()
    done = threading.Event()

    def action() -> None:
        runs.append(now[0])
        now[0] += 9.5  # the run takes 9.5 s of the fake clock
        if len(runs) == 3:
            stop.set()
            done.set()

    waits: list[float] = []
    real_wait = stop.wait

    def wait(timeout: float | None = None) -> bool:
        assert timeout is not None
        waits.append(round(timeout, 6))
        now[0] += timeout
        return real_wait(0)

    stop.wait = wait  # type: ignore[method-assign]
    every(10.0, stop, action, "test", clock=lambda: now[0]).join(timeout=5)
    assert done.is_set()
    assert runs == [100.0, 110.0, 120.0]
    assert waits == [0.5, 0.5, 0.5]
