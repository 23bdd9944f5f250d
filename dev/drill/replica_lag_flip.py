"""Scenario 9c, replica lag when the flag flips: DC06 is *active* and reads the gate from a read-only
replica of DC04's Redis; its replication is held and the operator fails back to DC04 during the hold
(docs/failover.md, "The fence on a lagging copy"; docs/drill.md finding 3).

The failback goes through DC04's Watchdog route, as an operator would do it (DC04 reads the primary;
the rate limit of one failover a minute is forced and noted). The flip lands on the primary; DC06's
held copy keeps saying "DC06 is active". Without the fence's lag bound DC06's runner and QueueBuilder
keep passing their fence on that copy while DC04 activates: two active regions for as long as the
hold. With it DC06's fence refuses the copy once its lag exceeds ``GATE_MAX_LAG_S`` (counted as
``gate_copy_stale_refusals``), and DC04 waits ``GATE_CACHE_TTL_S + GATE_MAX_LAG_S + 1 s`` after the
flip before it consumes. The report's ``seconds_two_active`` must be 0. The script fails when the
copies never disagreed (the run proved nothing), when DC06's fence never refused its copy, or when
DC06 does not read itself passive once the link is restored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from dev.drill.run import Context

REFUSALS = "gate_copy_stale_refusals"


@dataclass(frozen=True)
class Sample:
    """One look at both regions' ``GET /api/status`` during the hold: the gate as each copy says it."""

    dc04: str
    dc06: str
    refusals: float  # DC06's gate_copy_stale_refusals so far (this process's lifetime)


def replica_lag_flip(context: Context, hold_s: float = 12.0) -> None:
    from dev.drill.scenarios import failback  # noqa: PLC0415 - scenarios imports this module

    harness = context.harness
    replica = redis.Redis(port=harness.stack.port("redis-dc06"), decode_responses=True)
    link = harness.proxy(harness.stack.port("redis-dc04"))
    try:
        replica.replicaof("127.0.0.1", link.port)  # DC06 replicates through the proxy, read-only
        _wait_linked(replica, timeout_s=30)
        context.wait_delivered(0.1)
        failback(context, target="DC06", via="DC06")  # planned failover: DC06 active on its replica
        context.wait_delivered(0.4)
        before = _refusals(context)
        link.cut("hold")
        held_at = harness.mark("hold DC04 -> DC06 replication").at
        failback(context, target="DC04", via="DC04")  # the operator fails back during the hold
        samples = _observe(context, held_at + hold_s)
        link.restore()
        harness.mark("restore replication", f"DC06 role {replica.role()[0]!r}")
        caught_up = _wait_passive(context, timeout_s=30)
        harness.mark("DC06 reads DC04 active" if caught_up else "DC06 still reads itself active")
        refused = (samples[-1].refusals if samples else before) - before
        context.notes.append(_summary(samples, refused, hold_s))
        problem = _verdict(samples, refused, caught_up, str(replica.role()[0]))
    finally:
        replica.close()
    if problem:
        raise RuntimeError(problem)


def _wait_linked(replica: redis.Redis, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if replica.info("replication").get("master_link_status") == "up":
            return
        time.sleep(0.2)
    raise TimeoutError(f"DC06's Redis did not link through the proxy in {timeout_s} s")


def _gate(status: dict[str, object]) -> str:
    return f"{status.get('active_dc')}@{status.get('epoch')}"


def _refusals(context: Context) -> float:
    counters = context.harness.status("DC06").get("counters") or {}
    return float(counters.get(REFUSALS, 0)) if isinstance(counters, dict) else 0.0


def _observe(context: Context, until: float) -> list[Sample]:
    samples = []
    while True:
        dc04, dc06 = context.harness.status("DC04"), context.harness.status("DC06")
        counters = dc06.get("counters") or {}
        refusals = float(counters.get(REFUSALS, 0)) if isinstance(counters, dict) else 0.0
        samples.append(Sample(_gate(dc04), _gate(dc06), refusals))
        if time.time() >= until:
            return samples
        context.pause(min(1.0, max(0.0, until - time.time())))


def _wait_passive(context: Context, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if context.harness.status("DC06").get("active_dc") == "DC04":
            return True
        context.pause(0.5)
    return False


def _summary(samples: list[Sample], refused: float, hold_s: float) -> str:
    split = [s for s in samples if s.dc04 != s.dc06]
    views = sorted({f"{s.dc04} / {s.dc06}" for s in samples})
    return (
        f"replication held {hold_s:.0f} s, failback to DC04 at its start: {len(samples)} status samples "
        f"after the failback, the copies disagreed in {len(split)} (gate DC04 copy / DC06 copy: "
        f"{', '.join(views)}); DC06's fence refused its stale copy {refused:.0f} times "
        f"({REFUSALS})"
    )


def _verdict(samples: list[Sample], refused: float, caught_up: bool, role: str) -> str | None:
    """Why the run proves nothing or broke the promise; ``None`` when it proved the fix."""
    if not any(s.dc04.startswith("DC04@") and s.dc06.startswith("DC06@") for s in samples):
        return "DC06's copy never said DC06 while the primary said DC04: no stale window to fence"
    if refused <= 0:
        return "DC06's fence never refused its stale gate copy"
    if not caught_up:
        return "DC06 did not read DC04 active after the link was restored"
    if role != "slave":
        return f"DC06's Redis is no longer a replica ({role!r})"
    return None
