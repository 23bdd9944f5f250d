"""The Watchdog's health probes of this region's dependencies (``Watchdog.probes``).

Each probe returns a small detail for ``GET /api/status`` or raises when its dependency is unhealthy;
the Watchdog counts consecutive unhealthy passes (``WATCHDOG_MISSES``) before it acts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from shared.ports import ActiveRegionGate, IdempotencyStore, MqSource, WriteAheadLog

Probe = Callable[[], object]


def region_probes(
    *,
    gate: ActiveRegionGate,
    wal: WriteAheadLog,
    store: IdempotencyStore,
    mq: MqSource,
    last_run: Callable[[], Mapping[str, object] | None],
    stale_s: float,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Probe]:
    """Probes of the gate store, this region's own WAL copy (``wal``: not the dual WAL, which would
    read the peer's copy when ours is down), Cosmos DB, MQ, and the QueueBuilder's last run
    (``last_run``: the summary it stored, unhealthy when older than ``stale_s``)."""

    def queue_builder_fresh() -> object:
        last = last_run()
        finished = last.get("finished") if last else None
        if not isinstance(finished, str):
            raise RuntimeError("QueueBuilder has not run yet")
        age = (clock() - datetime.fromisoformat(finished)).total_seconds()
        if age > stale_s:
            raise RuntimeError(f"QueueBuilder last ran {age:.0f} s ago")
        return {"age_s": round(age, 1), "outcome": last.get("outcome") if last else None}

    def reachable(call: Callable[[], object]) -> Probe:
        return lambda: (call(), "reachable")[1]

    return {
        "redis": gate.read,
        "blob": reachable(lambda: next(iter(wal.list(limit=1)), None)),
        "cosmos": reachable(lambda: store.get("health-probe")),
        "mq": mq.depth,
        "queue_builder": queue_builder_fresh,
    }
