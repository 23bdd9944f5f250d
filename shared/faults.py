"""Fault-injection hooks for drills and tests: named crash points inside a step.

Code under test calls :func:`hit` at each crash window (``"qb.after_wal"``, ``"runner.after_deliver"``
…). Nothing happens unless a fault is armed, either programmatically (:func:`arm`, tests) or through
the environment variable ``BRIDGE_FAULTS`` read once at first use (drills), e.g.
``BRIDGE_FAULTS="runner.after_deliver=exit@3"``: the third time the point is reached the process exits
at once with status 137, as if killed with SIGKILL. Actions: ``raise`` (``FaultInjected``, a
``TransientError``), ``exit`` (``os._exit(137)``), ``sleep:<seconds>``. ``@N`` fires on the N-th hit
only; without it, on every hit. In production ``BRIDGE_FAULTS`` is never set.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from shared.errors import FaultInjected

POINTS = (
    "qb.after_get",
    "qb.after_wal",
    "qb.after_send",
    "qb.before_commit",
    "runner.after_claim",
    "runner.before_deliver",
    "runner.after_deliver",
    "runner.after_record",
    "replay.entry",  # each WAL body a replay reads to republish (drill long-replay: a slow, long walk)
)


@dataclass
class _Fault:
    action: str
    on_hit: int | None  # None = every hit
    hits: int = 0


_lock = threading.Lock()
_armed: dict[str, _Fault] = {}
_loaded = False


def parse(spec: str) -> dict[str, _Fault]:
    """Parse ``point=action[@n],point=action…``; unknown points or actions raise ``ValueError``."""
    faults: dict[str, _Fault] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        point, _, rest = item.partition("=")
        action, _, nth = rest.partition("@")
        if point not in POINTS:
            raise ValueError(f"unknown fault point {point!r}; known: {', '.join(POINTS)}")
        if action not in {"raise", "exit"} and not action.startswith("sleep:"):
            raise ValueError(f"unknown fault action {action!r} (raise, exit, sleep:<s>)")
        faults[point] = _Fault(action, int(nth) if nth else None)
    return faults


def arm(point: str, action: str = "raise", on_hit: int | None = None) -> None:
    """Arm ``point`` (tests)."""
    with _lock:
        _armed.update(parse(f"{point}={action}" + (f"@{on_hit}" if on_hit else "")))


def disarm() -> None:
    """Remove every armed fault, including those from the environment."""
    global _loaded  # noqa: PLW0603 - module-level registry by design
    with _lock:
        _armed.clear()
        _loaded = True


def hit(point: str) -> None:
    """Mark that execution reached ``point``; fire the armed fault, if any."""
    global _loaded  # noqa: PLW0603
    with _lock:
        if not _loaded:
            _armed.update(parse(os.environ.get("BRIDGE_FAULTS", "")))
            _loaded = True
        fault = _armed.get(point)
        if fault is None:
            return
        fault.hits += 1
        if fault.on_hit is not None and fault.hits != fault.on_hit:
            return
    if fault.action == "exit":
        os._exit(137)
    if fault.action.startswith("sleep:"):
        time.sleep(float(fault.action.split(":", 1)[1]))
        return
    raise FaultInjected(f"fault injected at {point}")
