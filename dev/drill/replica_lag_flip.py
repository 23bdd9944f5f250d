"""Scenario 9c, replica lag when the flag flips, on the deployed Redis topology: DC06 is *active*
(planned failover); Redis geo-replication stalls and the operator fails back to DC04 through DC04's
Watchdog route during the stall. DC06's Redis copy keeps what DC06 last saw ("DC06 is active"): its
fence must not keep DC06 working on that copy while DC04 activates.

The report's ``seconds_two_active`` must be 0. The script fails when the copies never disagreed (the
run proved nothing) or when DC06 does not read DC04 active once replication resumes.
"""

from __future__ import annotations

import time

from dev.drill.replica_lag import copies_differ
from dev.drill.run import Context


def replica_lag_flip(context: Context, hold_s: float = 12.0) -> None:
    from dev.drill.scenarios import failback  # noqa: PLC0415 - scenarios imports this module

    harness = context.harness
    context.wait_delivered(0.1)
    failback(context, target="DC06", via="DC06")  # planned failover: DC06 active
    context.wait_delivered(0.4)
    harness.topology.geo.stall()
    held_at = harness.mark("Redis geo-replication stalled").at
    failback(context, target="DC04", via="DC04")  # the operator fails back during the stall
    diverged = 0
    while time.time() < held_at + hold_s:
        diverged += copies_differ(harness)
        context.pause(1.0)
    harness.topology.geo.resume()
    harness.mark("Redis geo-replication resumed")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and harness.status("DC06").get("active_dc") != "DC04":
        context.pause(0.5)
    seen = harness.status("DC06").get("active_dc")
    context.notes.append(
        f"geo-replication stalled {hold_s:.0f} s with a failback to DC04 at its start: the copies "
        f"differed in {diverged} samples; DC06 afterwards reads {seen} active"
    )
    if not diverged:
        raise RuntimeError("the regions' Redis copies never disagreed: no stale window to fence")
    if seen != "DC04":
        raise RuntimeError(f"DC06 does not read DC04 active after replication resumed ({seen})")
