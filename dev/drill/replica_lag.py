"""Scenario 9, replica lag, on the deployed Redis topology: each region has its own Azure Managed Redis
instance, linked by active geo-replication (``dev.redis_geo``). The link stalls for ``hold_s`` while
DC04, alive, stays active and statements flow: DC06's copy of everything DC04 writes (heartbeats, its
gate mirror) goes stale.

The scenario proves that DC06 holds because the authority says DC04 holds the lease, not by luck:
DC06 must be *healthy* throughout the hold (else the health guard, not the gate, held it) and the
two copies must really have diverged (else the run proved nothing). It fails when either region's
gate moved, DC06 was ever unhealthy, or the copies never disagreed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from dev.drill.harness import Harness
from dev.drill.run import Context

#: Key fragments of what the regions publish in Redis for the gate (mirror, active flag, heartbeats).
GATE_KEYS = ("active", "mirror", "heartbeat", "gate")


@dataclass(frozen=True)
class Sample:
    """One look during the hold: both regions' gate, DC06's health, whether the copies differ."""

    healthy: bool
    gates: tuple[str, ...]  # "DC04@1" as each region's status says
    diverged: bool


def replica_lag(context: Context, hold_s: float = 20.0) -> None:
    harness = context.harness
    context.wait_delivered(0.3)
    _wait_healthy(harness, "DC06", timeout_s=60)
    harness.topology.geo.stall()
    held_at = harness.mark("Redis geo-replication stalled").at
    samples = []
    while time.time() < held_at + hold_s:
        samples.append(
            Sample(
                _health(harness.status("DC06"), "DC06"),
                tuple(_gate(harness.status(r)) for r in ("DC04", "DC06")),
                copies_differ(harness),
            )
        )
        context.pause(1.0)
    harness.topology.geo.resume()
    harness.mark("Redis geo-replication resumed")
    gates = sorted({g for s in samples for g in s.gates})
    context.notes.append(
        f"geo-replication stalled {hold_s:.0f} s: {len(samples)} samples, DC06 healthy in "
        f"{sum(s.healthy for s in samples)}, copies diverged in {sum(s.diverged for s in samples)}; "
        f"gate as the regions read it: {', '.join(gates)}"
    )
    if len(gates) > 1:
        raise RuntimeError(
            f"the gate moved during the stall ({', '.join(gates)}): DC06 promoted on a stale copy"
        )
    if not all(s.healthy for s in samples):
        raise RuntimeError("DC06 was unhealthy during the stall: the health guard, not the gate, held it")
    if not any(s.diverged for s in samples):
        raise RuntimeError("the regions' Redis copies never diverged: the stall proved nothing")


def copies_differ(harness: Harness) -> bool:
    """Whether any gate-related key differs between the two regions' Redis instances."""
    values = []
    for name in ("redis-dc04", "redis-dc06"):
        client = redis.Redis(port=harness.stack.port(name), socket_timeout=1)
        try:
            keys = [k for k in client.scan_iter(count=500) if any(f.encode() in k.lower() for f in GATE_KEYS)]
            values.append(dict(zip(keys, client.mget(keys), strict=True)) if keys else {})
        except redis.RedisError:
            return True
        finally:
            client.close()
    return values[0] != values[1]


def _wait_healthy(harness: Harness, region: str, timeout_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if _health(harness.status(region), region):
            return time.monotonic() - started
        harness.supervise()
        time.sleep(0.25)
    raise TimeoutError(f"{region} not healthy after {timeout_s} s: {harness.status(region).get('regions')}")


def _health(status: dict[str, Any], region: str) -> bool:
    health = ((status.get("regions") or {}).get(region) or {}).get("health") or {}
    return bool(health.get("healthy"))


def _gate(status: dict[str, Any]) -> str:
    return f"{status.get('active_dc')}@{status.get('epoch')}"
