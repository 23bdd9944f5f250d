"""The cached, fail-closed reader of the active-region gate, used before every side effect.

Reading Redis on every message would put Redis on the hot path of each MQGET and each delivery, so
components keep the gate's pair for at most ``ttl_s`` (``GATE_CACHE_TTL_S``, default 2 s). That bound
is part of the failover protocol: after a flip, the newly active region waits at least ``ttl_s``
(plus a safety margin) before consuming, so every cached "active" of the old region has expired by
then (docs/failover.md).

The cache FAILS CLOSED: a value is trusted for ``ttl_s`` after the read that fetched it *began* (the
conservative end of the read), never longer. When the store cannot be read and the cached value is
older than that, :meth:`CachedGate.check` raises :class:`~shared.errors.RegionNotActive` — acting on
a stale "active" could let two regions deliver at once; refusing only delays delivery.

A region whose gate copy is a Redis *replica* reads the pair there; after the flag flips away at
the primary, a lagging copy still says "you are active". With ``max_lag_s`` (``GATE_MAX_LAG_S``, F)
the reader reads through :meth:`~shared.ports.ActiveRegionGate.read_fenced`: a replica more than F
behind raises :class:`~shared.errors.StaleGateCopy`, a ``ServiceUnavailable``, and the cache fails
closed exactly as when Redis is unreachable (counted apart as ``gate_copy_stale_refusals``). Redis
reports the lag in whole seconds, rounded down, so a copy that passes is less than
F + :data:`LAG_RESOLUTION_S` behind; an activation therefore waits ``ttl_s`` + F +
:data:`LAG_RESOLUTION_S` after a flip (docs/failover.md, "The fence on a lagging copy").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.errors import RegionNotActive, StaleGateCopy, TransientError
from shared.model import GateState
from shared.ports import ActiveRegionGate
from shared.telemetry import Metrics
from shared.telemetry import metrics as process_metrics

Clock = Callable[[], float]

#: The resolution of a replica's reported lag: Redis's ``master_last_io_seconds_ago`` is whole seconds.
LAG_RESOLUTION_S = 1.0


@dataclass(frozen=True)
class GateCacheStats:
    """Counters for metrics: cache ``hits``, store reads (``misses``), failed reads (``errors``) and,
    among those, refusals of a gate copy lagging more than ``max_lag_s`` (``stale``)."""

    hits: int
    misses: int
    errors: int
    stale: int = 0


class CachedGate:
    """Answer "may ``region`` act now?" from a pair at most ``ttl_s`` old, or refuse.

    ``clock`` returns monotonic seconds (``time.monotonic`` by default; tests inject a fake).
    Besides :attr:`stats`, every hit, miss and failed read is counted in ``metrics`` (the process's
    :data:`shared.telemetry.metrics` by default) as ``gate_cache_hits``/``_misses``/``_read_errors``.
    Thread-safe: the handlers of one process share one instance. ``max_lag_s`` (``None``: trust any
    copy, as before ``GATE_MAX_LAG_S``) is the largest replication lag of a replica copy the fence
    accepts; above it the read counts as failed (module documentation).
    """

    def __init__(
        self,
        gate: ActiveRegionGate,
        ttl_s: float = 2.0,
        clock: Clock = time.monotonic,
        metrics: Metrics | None = None,
        max_lag_s: float | None = None,
    ) -> None:
        if ttl_s < 0:
            raise ValueError(f"ttl_s must not be negative, got {ttl_s}")
        if max_lag_s is not None and max_lag_s < 0:
            raise ValueError(f"max_lag_s must not be negative, got {max_lag_s}")
        self.max_lag_s = max_lag_s
        self.gate = gate
        self.ttl_s = ttl_s
        self.clock = clock
        self.metrics = process_metrics if metrics is None else metrics
        self._lock = threading.Lock()
        self._cached: GateState | None = None
        self._read_at = 0.0
        self._hits = 0
        self._misses = 0
        self._errors = 0
        self._stale = 0

    def check(self, region: str) -> GateState:
        """Return the pair if ``region`` is the active one; else raise ``RegionNotActive``.

        Also raises ``RegionNotActive`` when the gate was never initialised or cannot be read and no
        cached pair younger than ``ttl_s`` exists (fail closed).
        """
        state = self.current(region)
        if state.active_dc != region:
            raise RegionNotActive(region, f"{state.active_dc} is active (epoch {state.epoch})")
        return state

    def current(self, region: str) -> GateState:
        """The pair in force (cached for at most ``ttl_s``), whichever region it names.

        ``region`` only names the caller in the ``RegionNotActive`` raised when the pair is unknown.
        """
        with self._lock:
            if self._cached is not None and self.clock() - self._read_at < self.ttl_s:
                self._hits += 1
                self.metrics.incr("gate_cache_hits")
                return self._cached
            self._misses += 1
        self.metrics.incr("gate_cache_misses")
        began = self.clock()
        try:
            state = self.gate.read() if self.max_lag_s is None else self.gate.read_fenced(self.max_lag_s)
        except TransientError as error:
            stale = isinstance(error, StaleGateCopy)
            with self._lock:
                self._errors += 1
                self._stale += int(stale)
            self.metrics.incr("gate_cache_read_errors")
            if stale:
                self.metrics.incr("gate_copy_stale_refusals")
            raise RegionNotActive(region, f"gate unreadable and no fresh cached value ({error})") from error
        if state is None:
            raise RegionNotActive(region, "gate not initialised")
        with self._lock:
            if self._cached is None or began >= self._read_at:
                self._cached, self._read_at = state, began
        return state

    def invalidate(self) -> None:
        """Forget the cached pair (the next check reads the store), e.g. right after this process flips."""
        with self._lock:
            self._cached = None

    @property
    def stats(self) -> GateCacheStats:
        with self._lock:
            return GateCacheStats(self._hits, self._misses, self._errors, self._stale)
