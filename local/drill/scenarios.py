"""The drill's fault schedules, by name (``make drill SCENARIO=<name>``; ``all`` runs the matrix).

Each script runs while the producer feeds the inbox; :func:`local.drill.run.run` then waits until
every statement is accounted for and counts. docs/drill.md describes what each one proves.
"""

from __future__ import annotations

import time

from local.drill.run import Context, Scenario

FAILBACK_REASON = "drill: failback to DC04 after the region came back"


def kill_and_promote(context: Context, at_fraction: float = 0.35, stale_switch: bool = False) -> float:
    """kill -9 DC04 once ``at_fraction`` is delivered; wait for DC06's promotion; bring DC04 back."""
    harness = context.harness
    context.wait_delivered(at_fraction)
    harness.kill_region("DC04")
    killed_at = harness.events[-1].at
    context.measure_failover(killed_at, "DC06")
    harness.mark(
        "DC06 promoted", f"total {context.failover.total_s:.1f} s" if context.failover.total_s else ""
    )
    harness.bring_back("DC04", stale_switch=stale_switch)
    return killed_at


def failback(context: Context, target: str = "DC04", via: str = "DC06") -> None:
    """Manual failover through the Watchdog route of ``via`` (the active region), as an operator would."""
    harness = context.harness
    body = {"target": target, "reason": FAILBACK_REASON, "force": False}
    status, answer = harness.host.call(via, "POST", "failover", body)
    if status == 429:  # the route's rate limit (one failover per minute) protects against flapping
        context.notes.append(f"failback: {answer.get('error')}; forced")
        status, answer = harness.host.call(via, "POST", "failover", {**body, "force": True})
    harness.mark(f"failover -> {target} via HTTP", f"{status} {answer}")
    if status != 202:
        raise RuntimeError(f"failover to {target} refused: {status} {answer}")
    harness.wait_active(target, timeout_s=60)
    harness.mark(f"{target} active again")


def default(context: Context) -> None:
    """kill -9 of the active region mid-stream, promotion of DC06, replay, later failback to DC04."""
    kill_and_promote(context)
    context.wait_delivered(0.8)
    failback(context)


def kill_active(context: Context) -> None:
    """Scenario 1: kill -9 of the active region's process mid-stream; no failback."""
    kill_and_promote(context)


def crash_points(context: Context) -> None:
    """Crash points armed through ``BRIDGE_FAULTS``; the run loop restarts the crashed worker."""
    context.wait_delivered(0.5)
    time.sleep(0.1)


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario("default", "kill -9 DC04 mid-stream, promotion, replay, failback", default, bad=3),
        Scenario("kill-active", "kill -9 of the active region's process mid-stream", kill_active, bad=0),
    )
}
