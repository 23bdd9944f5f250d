"""Helpers for the Watchdog's health probes (the probes themselves are listed in ``bootstrap.probes``).

A probe is a callable that returns a detail when its dependency is healthy and raises otherwise
(:meth:`watchdog.controller.Watchdog.check_health`). The health check runs in the Watchdog's tick
before its heartbeat, so a slow probe delays the heartbeat: :class:`Throttled` keeps a probe that
costs a new connection (Service Bus: about 1 s on the local endpoint, a TLS and CBS handshake in
Azure) to one real check per interval and answers its last outcome in between.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: One real Service Bus check per this many seconds (two Watchdog ticks in Azure, 30 locally).
SLOW_PROBE_INTERVAL_S = 30.0


class Throttled:
    """Run ``check`` at most once every ``interval_s``; in between, repeat its last outcome (the
    detail with its age, or the same exception)."""

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
        self._at: float | None = None
        self._detail: object = None
        self._error: Exception | None = None

    def __call__(self) -> object:
        with self._lock:
            now = self.clock()
            if self._at is None or now - self._at >= self.interval_s:
                self._at = now
                try:
                    self._detail, self._error = self.check(), None
                except Exception as error:  # a probe's failure is data, whatever it is
                    self._detail, self._error = None, error
            age = now - self._at
            if self._error is not None:
                raise self._error.with_traceback(None)
            return self._detail if age == 0 else {"last": self._detail, "checked_s_ago": round(age, 1)}
