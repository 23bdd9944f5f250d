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
import os
import re
import threading
from collections import Counter, deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_MASKED_FIELDS = frozenset({"session_id", "account"})
_FREE_TEXT_FIELDS = frozenset({"error", "detail", "reason", "result"})
#: Account-number shapes masked inside free-text values (IBAN, long digit runs).
_ACCOUNT_LIKE = re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9]{10,30}\b|\b\d{8,34}\b")


def mask(value: str, keep: int = 4) -> str:
    """``CH9300762011623852957`` → ``*****************2957``: enough to correlate, not to read."""
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]


class Metrics:
    """Thread-safe in-process counters and last values, mirrored to OpenTelemetry once configured."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: Counter[str] = Counter()
        self._gauges: dict[str, float] = {}
        self._meter: Any = None
        self._instruments: dict[str, Any] = {}

    def export_to(self, meter: Any) -> None:
        """Mirror every later ``incr`` to an OpenTelemetry counter ``bridge.<name>`` of ``meter``."""
        self._meter = meter

    def incr(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name] += amount
            if self._meter is not None:
                if name not in self._instruments:
                    self._instruments[name] = self._meter.create_counter(f"bridge.{name}")
                self._instruments[name].add(amount)

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
#: Events logged as warnings because an operator wants to see them, though nothing is wrong: the
#: protocol doing its job (the region lease created, transferred, waited for and activated, an
#: operator's accepted call, a fenced runner's claim superseded, an in-doubt message reconciled or
#: redelivered under its key). The status route lists them as ``recent_events``, not as problems.
NORMAL_EVENTS = frozenset(
    {
        "watchdog.lease_initialised",
        "watchdog.transferred",
        "watchdog.waiting_not_before",
        "watchdog.activated",
        "operator.audit",
        "statement.superseded",
        "statement.in_doubt_reconciled",
        "statement.in_doubt_redeliver",
    }
)
#: The last warnings and errors of this process, newest last, for the status route ("last errors").
recent_problems: deque[dict[str, Any]] = deque(maxlen=20)
#: The last :data:`NORMAL_EVENTS` of this process, newest last.
recent_events: deque[dict[str, Any]] = deque(maxlen=20)


def _safe(key: str, value: Any) -> Any:
    if key in _MASKED_FIELDS and value:
        return mask(str(value))
    if key in _FREE_TEXT_FIELDS and isinstance(value, str):
        return _ACCOUNT_LIKE.sub(lambda m: mask(m.group()), value)
    return value


def log_event(logger: logging.Logger, level: int, event: str, **context: Any) -> None:
    """Log ``event`` with ``context`` as structured fields (masked where they hold account numbers)."""
    safe = {k: _safe(k, v) for k, v in context.items()}
    details = " ".join(f"{k}={v}" for k, v in safe.items())
    logger.log(level, "%s %s", event, details, extra={"event": event, **safe})
    if level >= logging.WARNING:
        recent = recent_events if event in NORMAL_EVENTS else recent_problems
        recent.append({"at": datetime.now(UTC).isoformat(), "event": event, **safe})


def configure_observability(environ: Mapping[str, str] = os.environ) -> bool:
    """Send logs, traces and the counters to Application Insights when
    ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set (azure-monitor-opentelemetry); else do nothing.

    Returns whether it was configured. Called once by the composition root, never at import time.
    """
    if not environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor  # noqa: PLC0415 - only in Azure
    from opentelemetry import metrics as otel_metrics  # noqa: PLC0415

    configure_azure_monitor(logger_name="bridge")
    metrics.export_to(otel_metrics.get_meter("bridge"))
    return True
