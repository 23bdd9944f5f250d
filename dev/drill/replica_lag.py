"""Scenario 9, replica lag: DC06 reads the gate from its own Redis, a replica of DC04's, and the
replication link stalls while DC04, alive, stays active on the primary (docs/drill.md finding 3).

On the stale copy DC04's heartbeat expires. The scenario proves that DC06 holds because its Watchdog
sees the copy is stale ("gate copy stale"), not by luck: DC06 must be *healthy* throughout the hold.
A read-only replica would make DC06 unhealthy (it could not write its heartbeat, health document or
QueueBuilder record) and hide the decision behind the health guard, so the replica is made writable
first (``replica-read-only no``), which is also what Azure Managed Redis with active geo-replication
is: writable in both regions. The script fails when DC06 was ever unhealthy, never judged its copy
stale, or when either region's gate moved.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from dev.drill.harness import Harness
from dev.drill.run import Context

STALE = "passive: gate copy stale"


@dataclass(frozen=True)
class Sample:
    """One look at both regions' ``GET /api/status`` during the hold."""

    healthy: bool
    action: str
    lag: object
    gates: tuple[str, ...]  # "DC04@1" as each region's copy says


def replica_lag(context: Context, hold_s: float = 20.0) -> None:
    harness = context.harness
    replica = redis.Redis(host="127.0.0.1", port=harness.stack.port("redis-dc06"))
    link = harness.proxy(harness.stack.port("redis-dc04"))
    replica.replicaof("127.0.0.1", link.port)  # DC06 now replicates through the proxy
    replica.config_set("replica-read-only", "no")
    waited = _wait_healthy(harness, "DC06", timeout_s=60)
    harness.mark("DC06 healthy on its writable replica", f"after {waited:.1f} s")
    context.wait_delivered(0.3)
    link.cut("hold")
    held_at = harness.mark("hold DC04 -> DC06 replication").at
    samples = _observe(context, hold_s)
    link.restore()
    harness.mark("restore replication", f"DC06 role {replica.role()[0]!r}")
    replica.close()
    context.notes.append(f"replication held {hold_s:.0f} s from t={held_at:.0f}")
    context.notes.append(_summary(samples))
    problem = _verdict(samples)
    if problem:
        raise RuntimeError(problem)


def _wait_healthy(harness: Harness, region: str, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if _health(harness.status(region), region):
            return time.monotonic() - started
        harness.supervise()
        time.sleep(0.25)
    raise TimeoutError(f"{region} not healthy after {timeout_s} s: {harness.status(region).get('regions')}")


def _observe(context: Context, seconds: float) -> list[Sample]:
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        dc06, dc04 = context.harness.status("DC06"), context.harness.status("DC04")
        watchdog = dc06.get("watchdog") or {}
        samples.append(
            Sample(
                healthy=_health(dc06, "DC06"),
                action=str(watchdog.get("last_action")),
                lag=watchdog.get("gate_replication_lag_s"),
                gates=tuple(f"{s.get('active_dc')}@{s.get('epoch')}" for s in (dc04, dc06)),
            )
        )
        context.pause(1.0)
    return samples


def _health(status: dict[str, Any], region: str) -> bool:
    health = ((status.get("regions") or {}).get(region) or {}).get("health") or {}
    return bool(health.get("healthy"))


def _summary(samples: list[Sample]) -> str:
    stale = [s for s in samples if s.action.startswith(STALE)]
    lags = [s.lag for s in stale if isinstance(s.lag, (int, float))]
    missing = sum(s.action.startswith("passive: active heartbeat missing") for s in samples)
    gates = sorted({g for s in samples for g in s.gates})
    return (
        f"DC06 during the hold: {len(samples)} status samples, healthy in {sum(s.healthy for s in samples)}; "
        f"Watchdog 'gate copy stale' in {len(stale)} (replication lag up to {max(lags, default=0):.0f} s), "
        f"'heartbeat missing' in {missing}, 'promoted' in {sum(s.action == 'promoted' for s in samples)}; "
        f"gate on DC04's and DC06's copies: {', '.join(gates)}"
    )


def _verdict(samples: list[Sample]) -> str | None:
    """Why the run proves nothing or broke the promise; ``None`` when it proved the fix."""
    if not samples:
        return "no status sample during the hold"
    gates = {g for s in samples for g in s.gates}
    if any(s.action == "promoted" for s in samples) or len(gates) > 1:
        return f"the gate moved during the hold ({', '.join(sorted(gates))}): DC06 promoted on its stale copy"
    if not all(s.healthy for s in samples):
        return "DC06 was unhealthy during the hold: the health guard, not the stale-copy check, held it"
    if not any(s.action.startswith(STALE) for s in samples):
        return "DC06's Watchdog never judged its gate copy stale"
    return None
