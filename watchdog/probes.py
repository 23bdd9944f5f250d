"""The Watchdog's health probes of this region's dependencies (``Watchdog.probes``).

Each probe returns a small detail for ``GET /api/status`` or raises when its dependency is unhealthy
(:meth:`watchdog.controller.Watchdog.check_health`); the Watchdog counts consecutive unhealthy passes
(``WATCHDOG_MISSES``) before it acts. The health check runs in the Watchdog's tick before its
heartbeat, so a slow probe would delay the heartbeat, and a region restarted after a crash could be
declared dead while its first tick waits on a handshake. :class:`Throttled` keeps a probe that needs
a new connection (Service Bus: about 1 s on the local endpoint, a TLS and CBS handshake in Azure) out
of the tick: it starts the real check in a background thread at most once every interval and answers
the last finished outcome meanwhile, so a tick never waits for it.

:class:`TickEvidence` keeps a tick from asking Cosmos the same question twice: the tick's own first
step reads the region lease (a read of the control container) and, on the holder, renews it (a
compare-and-set WRITE to the same container). The ``cosmos_control`` and ``cosmos_write`` probes answer
from those calls when this tick made them successfully, and make their own call otherwise (a failed or
skipped read or renewal, a passive region's tick, a check outside a tick). Detection is unchanged: a
failing read or write is still seen in the same tick, by the same kind of request to the same container.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.model import QUEUE_BUILDER, QUEUE_BUILDER_FAILED, Checkpoint
from shared.ports import (
    CheckpointStore,
    DeliveryTarget,
    GateMirror,
    Heartbeats,
    IdempotencyStore,
    MqSource,
    RegionAuthority,
    StatementPublisher,
    WriteAheadLog,
)

#: One real Service Bus check per this many seconds (two Watchdog ticks in Azure, 30 locally).
SLOW_PROBE_INTERVAL_S = 30.0
FIRST_CHECK = "first check under way"


class Throttled:
    """Run ``check`` in the background at most once every ``interval_s``; answer the last finished
    outcome (the detail with its age, or the same exception). Before the first check has finished
    the answer is :data:`FIRST_CHECK` (not a failure: nothing is known yet, for at most one check's
    duration after the process started)."""

    def __init__(
        self,
        check: Callable[[], object],
        interval_s: float = SLOW_PROBE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.check = check
        self.interval_s = interval_s
        self.clock = clock
        self._lock = threading.Lock()
        self._started: float | None = None
        self._running = False
        self._finished: float | None = None
        self._detail: object = None
        self._error: Exception | None = None

    def __call__(self) -> object:
        with self._lock:
            now = self.clock()
            due = self._started is None or now - self._started >= self.interval_s
            if due and not self._running:
                self._started, self._running = now, True
                threading.Thread(target=self._run, name="slow-probe", daemon=True).start()
            finished, detail, error = self._finished, self._detail, self._error
        if finished is None:
            return FIRST_CHECK
        if error is not None:
            raise error.with_traceback(None)
        return {"last": detail, "checked_s_ago": round(now - finished, 1)}

    def _run(self) -> None:
        try:
            detail, error = self.check(), None
        except Exception as failure:  # a probe's failure is data, whatever it is
            detail, error = None, failure
        with self._lock:
            self._finished, self._detail, self._error = self.clock(), detail, error
            self._running = False

    def wait(self, timeout_s: float = 10.0) -> None:
        """Block until no check is running (tests)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._running:
                    return
            time.sleep(0.01)


Probe = Callable[[], object]

#: The probes a tick's own lease steps can answer (:class:`TickEvidence`).
CONTROL_READ, CONTROL_WRITE = "cosmos_control", "cosmos_write"


@dataclass
class TickEvidence:
    """What the current Watchdog tick has already shown, by probe name: the tick clears it first
    (:meth:`new_tick`), notes each successful lease call (:meth:`note`), and a probe built with
    :meth:`or_check` answers the note instead of repeating the call. Used by one tick at a time."""

    shown: dict[str, str] = field(default_factory=dict)

    def new_tick(self) -> None:
        self.shown.clear()

    def note(self, name: str, detail: str) -> None:
        self.shown[name] = detail

    def or_check(self, name: str, check: Probe) -> Probe:
        """A probe answering what this tick noted under ``name``, else running ``check``."""

        def probe() -> object:
            shown = self.shown.get(name)
            return check() if shown is None else shown

        return probe


def region_probes(
    *,
    region: str,
    mirror: GateMirror,
    authority: RegionAuthority,
    checkpoints: CheckpointStore,
    heartbeats: Heartbeats,
    wal: WriteAheadLog,
    store: IdempotencyStore,
    mq: MqSource,
    publisher: StatementPublisher,
    target: DeliveryTarget,
    stale_s: float,
    slow_probe_interval_s: float = SLOW_PROBE_INTERVAL_S,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    evidence: TickEvidence | None = None,
) -> dict[str, Probe]:
    """Probes of this region's Redis mirror, the Cosmos control container (a read of the authority
    and a WRITE: :func:`cosmos_write_probe`), this region's own WAL copy (``wal``: not the dual WAL,
    which would read the peer's copy when ours is down), the Cosmos records, MQ, its own Service Bus
    namespace (``publisher``, throttled to one real check per ``slow_probe_interval_s``:
    :class:`Throttled`), MessageWay (``target``), and the QueueBuilder's last completed run (its
    heartbeat, unhealthy when older than ``stale_s``, with its last failure when there is one).
    With ``evidence`` (the Watchdog's :class:`TickEvidence`), the two control-container probes answer
    from the tick's own lease read and renewal when those succeeded."""

    def queue_builder_fresh() -> object:
        last = heartbeats.last(region, QUEUE_BUILDER)
        if last is None:
            raise RuntimeError("QueueBuilder has not run yet")
        age = last.age_s(clock())
        if age > stale_s:
            failed = heartbeats.last(region, QUEUE_BUILDER_FAILED)
            why = f"; last failure: {failed.summary}" if failed is not None and failed.at > last.at else ""
            raise RuntimeError(f"QueueBuilder last completed a run {age:.0f} s ago{why}")
        return f"ran {age:.1f} s ago: {last.summary}"

    def reachable(call: Callable[[], object]) -> Probe:
        return lambda: (call(), "reachable")[1]

    known = TickEvidence() if evidence is None else evidence
    return {
        "redis": reachable(mirror.read),
        CONTROL_READ: known.or_check(CONTROL_READ, reachable(authority.read)),
        CONTROL_WRITE: known.or_check(CONTROL_WRITE, cosmos_write_probe(checkpoints, region, clock)),
        "blob": reachable(lambda: next(iter(wal.list(limit=1)), None)),
        "cosmos": reachable(lambda: store.get("health-probe")),
        "servicebus": Throttled(publisher.probe, slow_probe_interval_s),  # the own namespace (no pairing)
        "mq": mq.depth,
        "messageway": target.probe,
        "queue_builder": queue_builder_fresh,
    }


def cosmos_write_probe(
    checkpoints: CheckpointStore, region: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Probe:
    """A health probe that WRITES: it upserts this region's probe item (checkpoint
    ``health-probe:<region>`` in the Cosmos control container), so a lost Cosmos write region fails
    the probe (``WritesUnavailable``) while reads still answer. The Watchdog turns consumption off
    while it fails (shared.breaker)."""

    def probe() -> object:
        now = clock()
        checkpoints.put(Checkpoint(f"health-probe:{region}", now.isoformat(), now))
        return "written"

    return probe
