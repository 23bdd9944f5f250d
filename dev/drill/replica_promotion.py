"""Scenario 9b, kill-active with DC04's Redis alive, on the deployed Redis topology: DC04's process is
killed while its Redis instance and the geo-replication link live on.

DC06 promotes (the authority moves); what DC06 then writes to its own Redis reaches DC04's instance
through geo-replication, so the two copies agree again; DC04, brought back, reads DC06 active and stays
passive. The script fails when the copies still differ after the promotion or DC04 comes back active.
"""

from __future__ import annotations

import time

from dev.drill.replica_lag import copies_differ
from dev.drill.run import Context


def kill_active_on_replica(context: Context, observe_s: float = 10.0) -> None:
    from dev.drill.scenarios import kill_and_promote  # noqa: PLC0415 - scenarios imports this module

    harness = context.harness
    kill_and_promote(context)
    deadline = time.monotonic() + observe_s
    agreed = False
    while time.monotonic() < deadline:
        if harness.status("DC04").get("active_dc") == "DC04":
            raise RuntimeError("DC04 came back and read itself active")
        agreed = agreed or not copies_differ(harness)
        context.pause(1.0)
    seen = harness.status("DC04").get("active_dc")
    context.notes.append(
        f"after the promotion: the Redis copies agreed {agreed}; DC04 back reads {seen} active"
    )
    if not agreed:
        raise RuntimeError("the regions' Redis copies never agreed after the promotion (geo-replication)")
    if seen != "DC06":
        raise RuntimeError(f"DC04, brought back, does not read DC06 active ({seen})")
