"""Structured logs and counters shared by the three functions.

Every event is one log record whose message is the event name and whose ``extra`` carries the
context (``message_id``, ``session_id``, ``region``, ``epoch`` …), so Application Insights (through
OpenTelemetry) stores them as custom dimensions. Account numbers (session ids) are masked before they
reach a log (:func:`mask`); bodies are never logged.

:data:`metrics` counts what operators watch (ingested, delivered, duplicates suppressed, in-doubt,
failed, replayed, inversions, failovers, gate cache misses …) in this process; the Watchdog's status
shows them and, when OpenTelemetry is configured, they are exported as counters too.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

_MASKED_FIELDS = frozenset({"session_id", "account"})


def mask(value: str, keep: int = 4) -> str:
    """``CH9300762011623852957`` → ``*****************2957``: enough to correlate, not to read."""
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]


class Metrics:
    """Thread-safe in-process counters and last values."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: Counter[str] = Counter()
        self._gauges: dict[str, float] = {}

    def incr(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name] += amount

    def gauge(self, name: str, value: float) -> None:
        with self._lock:
            self._gauges[name] = value

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {**self._counters, **self._gauges}

    def reset(self) -> None:
        with self._lock:
            self._counters.clear()
            self._gauges.clear()


metrics = Metrics()


def log_event(logger: logging.Logger, level: int, event: str, **context: Any) -> None:
    """Log ``event`` with ``context`` as structured fields (masked where they hold account numbers)."""
    safe = {k: mask(str(v)) if k in _MASKED_FIELDS and v else v for k, v in context.items()}
    details = " ".join(f"{k}={v}" for k, v in safe.items())
    logger.log(level, "%s %s", event, details, extra={"event": event, **safe})
