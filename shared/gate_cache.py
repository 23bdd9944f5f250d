"""The fence: a cached, fail-closed reader of this region's gate mirror, asked before every side effect.

Reading the authority (Cosmos) on every message would put a cross-region round trip on the hot path of
each MQGET and each delivery, so components read their region's Redis mirror
(:class:`~shared.ports.GateMirror`, written by the region's Watchdog after every renewal, transfer or
read of the authority) and keep the view for at most ``ttl_s`` (``GATE_CACHE_TTL_S``, default 2 s).

Work is allowed only while the view says (:meth:`~shared.model.GateView.allows`): this region holds
the lease, it has finished activating in the lease's epoch, and ``not_before <= now < lease_until -
guard_s`` (``LEASE_GUARD_S``) by this process's wall clock. The lease carries absolute times, so a
cached or stale view can never extend the region's right to act: at worst a cached view hides a
*newer* lease for ``ttl_s`` (the fence then opens late, never early). A transfer leaves the old
holder's ``lease_until`` in place and starts the new holder at ``lease_until + CLOCK_SKEW_S``, so the
two regions' windows never overlap while the clocks agree within ``CLOCK_SKEW_S``
(docs/protocols.md, "One active region").

The cache FAILS CLOSED: when the mirror cannot be read and the cached view is older than ``ttl_s``
(counted from the start of the read that fetched it), :meth:`CachedGate.check` raises
:class:`~shared.errors.RegionNotActive`. Losing Redis stops work; it never starts any.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.errors import RegionNotActive, TransientError
from shared.model import GateView, Lease
from shared.ports import GateMirror
from shared.telemetry import Metrics
from shared.telemetry import metrics as process_metrics

Clock = Callable[[], float]
WallClock = Callable[[], datetime]


@dataclass(frozen=True)
class GateCacheStats:
    """Counters for metrics: cache ``hits``, mirror reads (``misses``), failed reads (``errors``)."""

    hits: int
    misses: int
    errors: int


def refusal(view: GateView, region: str, now: datetime, guard_s: float) -> str | None:
    """Why ``view`` does not let ``region`` work at ``now`` (``None``: it does)."""
    lease = view.lease
    if lease.active_dc != region:
        return f"{lease.active_dc} holds the lease (epoch {lease.epoch})"
    if view.activated_epoch != lease.epoch:
        return f"not activated in epoch {lease.epoch} yet"
    if now < lease.not_before:
        return f"epoch {lease.epoch} starts at {lease.not_before.isoformat()}"
    if now >= lease.lease_until - timedelta(seconds=guard_s):
        return f"lease of epoch {lease.epoch} ends at {lease.lease_until.isoformat()} (guard {guard_s:g} s)"
    return None


class CachedGate:
    """Answer "may ``region`` act now?" from a mirror view at most ``ttl_s`` old, or refuse.

    ``clock`` returns monotonic seconds for the cache's age, ``wall`` the UTC time the lease is judged
    at (tests inject fakes). Besides :attr:`stats`, every hit, miss and failed read is counted in
    ``metrics`` (the process's by default) as ``gate_cache_hits``/``_misses``/``_read_errors``.
    Thread-safe: the handlers of one process share one instance.
    """

    def __init__(
        self,
        mirror: GateMirror,
        *,
        ttl_s: float = 2.0,
        guard_s: float = 10.0,
        clock: Clock = time.monotonic,
        wall: WallClock = lambda: datetime.now(UTC),
        metrics: Metrics | None = None,
    ) -> None:
        if ttl_s < 0 or guard_s < 0:
            raise ValueError(f"ttl_s and guard_s must not be negative, got {ttl_s}, {guard_s}")
        self.mirror = mirror
        self.ttl_s = ttl_s
        self.guard_s = guard_s
        self.clock = clock
        self.wall = wall
        self.metrics = process_metrics if metrics is None else metrics
        self._lock = threading.Lock()
        self._cached: GateView | None = None
        self._read_at = 0.0
        self._hits = 0
        self._misses = 0
        self._errors = 0

    def check(self, region: str) -> Lease:
        """Return the lease if ``region`` may work now; else raise ``RegionNotActive`` (also when the
        mirror was never written or cannot be read and no view younger than ``ttl_s`` is cached)."""
        view = self.current(region)
        why = refusal(view, region, self.wall(), self.guard_s)
        if why is not None:
            raise RegionNotActive(region, why)
        return view.lease

    def current(self, region: str) -> GateView:
        """The view in force (cached for at most ``ttl_s``); ``region`` only names the caller in the
        ``RegionNotActive`` raised when there is none."""
        with self._lock:
            if self._cached is not None and self.clock() - self._read_at < self.ttl_s:
                self._hits += 1
                self.metrics.incr("gate_cache_hits")
                return self._cached
            self._misses += 1
        self.metrics.incr("gate_cache_misses")
        began = self.clock()
        try:
            view = self.mirror.read()
        except TransientError as error:
            with self._lock:
                self._errors += 1
            self.metrics.incr("gate_cache_read_errors")
            raise RegionNotActive(
                region, f"gate mirror unreadable and no fresh cached view ({error})"
            ) from error
        if view is None:
            raise RegionNotActive(region, "gate mirror empty (the Watchdog has not published yet)")
        with self._lock:
            if self._cached is None or began >= self._read_at:
                self._cached, self._read_at = view, began
        return view

    def invalidate(self) -> None:
        """Forget the cached view (the next check reads the mirror)."""
        with self._lock:
            self._cached = None

    @property
    def stats(self) -> GateCacheStats:
        with self._lock:
            return GateCacheStats(self._hits, self._misses, self._errors)
