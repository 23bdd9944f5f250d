"""The process-wide circuit breaker for Cosmos DB write unavailability.

While Cosmos DB's write region is lost, every write fails with
:class:`~shared.errors.WritesUnavailable` until the service (service-managed failover) or an operator
(forced failover) moves the write region; Microsoft gives no fixed duration for either
(https://learn.microsoft.com/azure/cosmos-db/high-availability#region-outages). Giving a message
back to Service Bus on each failure would spend its ``MaxDeliveryCount`` in minutes and dead-letter
it, out of order. Instead:

* the first writer that meets the error **opens** the breaker (a log event and the gauge
  ``cosmos_writes_breaker_open`` = 1, once per opening);
* a runner holding a message keeps it (its lock renewed by the Functions host,
  ``maxAutoLockRenewalDuration``, or the local consumer's ``AutoLockRenewer``) and retries the write
  in bounded steps (:meth:`WriteBreaker.hold`), up to a total hold below the lock renewal limit; no
  delivery count is spent meanwhile;
* the next write that succeeds **closes** it (event and gauge again).

The Watchdog's health probe includes a small write (:func:`bootstrap.cosmos_write_probe`): a failing
write turns the region's consumption switch off, so no new messages are taken while it is open.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from shared.errors import WritesUnavailable
from shared.telemetry import log_event, metrics

log = logging.getLogger("bridge.breaker")

T = TypeVar("T")


@dataclass
class WriteBreaker:
    """Open while the store refuses writes; shared by every thread of the process."""

    opened_at: datetime | None = None
    last_error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def trip(self, error: WritesUnavailable, now: datetime) -> None:
        """Record a refused write: open the breaker (logged once per opening)."""
        with self._lock:
            self.last_error = str(error)[:300]
            if self.opened_at is not None:
                return
            self.opened_at = now
        metrics.gauge("cosmos_writes_breaker_open", 1)
        metrics.incr("cosmos_writes_breaker_opened")
        log_event(log, logging.ERROR, "breaker.cosmos_writes_open", error=self.last_error)

    def reset(self, now: datetime) -> None:
        """Record a write that succeeded: close the breaker (logged once per closing)."""
        with self._lock:
            opened, self.opened_at = self.opened_at, None
        if opened is not None:
            metrics.gauge("cosmos_writes_breaker_open", 0)
            log_event(
                log,
                logging.WARNING,
                "breaker.cosmos_writes_closed",
                open_s=round((now - opened).total_seconds(), 1),
            )

    def hold(
        self,
        write: Callable[[], T],
        *,
        max_hold_s: float,
        step_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None],
    ) -> T:
        """Run ``write``; while it raises ``WritesUnavailable``, trip, wait ``step_s`` and try again,
        for at most ``max_hold_s`` in all (then the last error propagates). A success resets."""
        deadline = clock() + timedelta(seconds=max_hold_s)
        while True:
            try:
                result = write()
            except WritesUnavailable as error:
                now = clock()
                self.trip(error, now)
                remaining = (deadline - now).total_seconds()
                if remaining <= 0:
                    raise
                metrics.incr("cosmos_write_waits")
                sleep(min(step_s, remaining))
                continue
            self.reset(clock())
            return result


#: The process's breaker (one Functions worker process serves every trigger of the app).
BREAKER = WriteBreaker()
