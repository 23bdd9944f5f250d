"""Scenario 9b, kill-active on a replica: DC06 reads the gate from a read-only replica of DC04's Redis,
DC04's process is killed while its Redis lives (docs/failover.md, "Promotion on a replica").

DC06's Watchdog must promote *at the primary* (the compare-and-set goes to DC04's Redis, replication
carries it to DC06's copy) and leave its copy a replica; DC04, brought back, reads the primary and stays
passive. The script fails when DC06's Redis is no longer a replica after the promotion, when the two
copies disagree about the gate, or when DC04 comes back active.
"""

from __future__ import annotations

import time

import redis

from dev.drill.run import Context


def kill_active_on_replica(context: Context, observe_s: float = 10.0) -> None:
    from dev.drill.scenarios import kill_and_promote  # noqa: PLC0415 - scenarios imports this module

    harness = context.harness
    primary = redis.Redis(port=harness.stack.port("redis-dc04"), decode_responses=True)
    replica = redis.Redis(port=harness.stack.port("redis-dc06"), decode_responses=True)
    try:
        roles = f"DC04 {primary.role()[0]!r}, DC06 {replica.role()[0]!r}"
        harness.mark("gate copies", roles)
        if replica.role()[0] != "slave":
            raise RuntimeError(f"DC06's Redis is not a replica before the kill ({roles})")
        kill_and_promote(context)
        deadline = time.monotonic() + observe_s
        seen: list[tuple[str, str]] = []
        while time.monotonic() < deadline:
            seen.append((_gate(primary), _gate(replica)))
            if harness.status("DC04").get("active_dc") == "DC04":
                raise RuntimeError("DC04 came back and read itself active")
            context.pause(1.0)
        role = replica.role()[0]
        views = sorted({f"{p} / {r}" for p, r in seen})
        harness.mark("after promotion", f"DC06 Redis role {role!r}; gate (primary / replica): {views}")
        context.notes.append(f"DC06's Redis after the promotion: {role}; gate (primary / replica) {views}")
        if role != "slave":
            raise RuntimeError("DC06's replica was made writable although its primary answered")
        if not seen or seen[-1][0] != seen[-1][1] or not seen[-1][0].startswith("DC06@"):
            raise RuntimeError(f"the copies do not both say DC06 is active: {views}")
    finally:
        primary.close()
        replica.close()


def _gate(client: redis.Redis) -> str:
    dc, epoch = (
        v if isinstance(v, str) else repr(v) for v in client.mget(["bridge:active_dc", "bridge:active_epoch"])
    )
    return f"{dc}@{epoch}"
