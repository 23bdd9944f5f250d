"""Crash points for drills and tests, armed AROUND the ports, never called inside the handlers.

The composition root passes every dependency it gives a handler through an ``around(role, name,
dependency)`` hook (:func:`bootstrap.wire`; identity in production). :class:`CrashPoints` is such a
hook: it wraps the few dependencies that border a crash window and fires the armed fault just before
or just after one call. Each point is one window of docs/protocols.md, at the same place in the
protocol as when the handlers called the hooks themselves:

The QueueBuilder's windows are those of one unit of work, which is one WAL segment:

* ``qb.after_get``: after the QueueBuilder's ``mq.get`` returned a message (got under syncpoint, the
  unit's segment not written);
* ``qb.after_wal``: after its ``wal.append`` of the unit's segment returned (the segment written whole
  in both regions, nothing sent);
* ``qb.after_send``: after ``publisher.publish`` returned (the unit sent, MQ not committed);
* ``qb.before_commit``: before ``mq.commit`` (fenced again, MQCMIT not yet made);
* ``runner.after_claim``: after the runner's ``store.claim``, or a ``take_over`` that extends an
  expired lease (the runner's release of its own lease shortens it, and does not count): claimed,
  nothing delivered;
* ``runner.before_deliver``: after ``translate`` returned (translated; before the fence and the
  delivery);
* ``runner.after_deliver``: after ``target.deliver`` returned (delivered, not recorded: in doubt);
* ``replay.entry``: before each of the replay's WAL reads (one storage call: a segment's index, a
  record's range, or a segment whole when most of its records have no final record) (the drill
  ``long-replay`` arms ``sleep:`` here: slow storage, a long walk; the sleeps run one at a time even
  when the replay reads in parallel, as when the replay called the hook in its loop);
* ``runner.after_record``: after ``store.mark_delivered`` that follows a ``deliver``, also when it
  lost to a take-over (recorded, Service Bus message not completed); the in-doubt path that records
  what the target confirmed does not count.

Spec (``BRIDGE_FAULTS`` in the dev settings, ``dev/settings.py``): ``point=action[@n],...``, e.g.
``runner.after_deliver=exit@3``: the third time the point is reached the process exits at once with
status 137, as if killed with SIGKILL. Actions: ``raise`` (:class:`FaultInjected`, a
``TransientError``), ``exit`` (``os._exit(137)``), ``sleep:<seconds>``. ``@N`` fires on the N-th hit
only; without it, on every hit. Nothing under ``dev/`` is deployed.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from shared.errors import Interrupted, PreconditionFailed
from shared.model import ClaimRecord, MqMessage, OutboundStatement, WalLocator, WalSegment

T = TypeVar("T")

POINTS = (
    "qb.after_get",
    "qb.after_wal",
    "qb.after_send",
    "qb.before_commit",
    "runner.after_claim",
    "runner.before_deliver",
    "runner.after_deliver",
    "runner.after_record",
    "replay.entry",
)


class FaultInjected(Interrupted):
    """Raised by an armed crash point (action ``raise``); the handler treats it like any outage."""


@dataclass
class _Fault:
    action: str
    on_hit: int | None  # None = every hit
    hits: int = 0


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


class CrashPoints:
    """An ``around`` hook for :func:`bootstrap.wire` firing the faults of ``spec`` (see the module)."""

    def __init__(self, spec: str = "") -> None:
        self._lock = threading.Lock()
        self._armed = parse(spec)
        self._thread = threading.local()  # per handler thread: was the last target call a delivery?

    def hits(self, point: str) -> int:
        """How many times ``point`` was reached while armed."""
        with self._lock:
            fault = self._armed.get(point)
            return fault.hits if fault else 0

    def hit(self, point: str) -> None:
        """Execution reached ``point``: fire its armed fault, if any."""
        with self._lock:
            fault = self._armed.get(point)
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

    def __call__(self, role: str, name: str, dependency: T, /) -> T:
        wrap = _WRAPPERS.get((role, name))
        return dependency if wrap is None else cast(T, wrap(self, dependency))

    def note_delivery(self, delivered: bool) -> None:
        """Whether this thread's last call to the target was a ``deliver`` that returned."""
        self._thread.delivered = delivered

    def follows_delivery(self) -> bool:
        return bool(getattr(self._thread, "delivered", False))


class _Around:
    """Delegates everything to ``inner``; subclasses intercept the calls that border a window."""

    def __init__(self, points: CrashPoints, inner: Any) -> None:
        self._points = points
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _QueueBuilderMq(_Around):
    def get(self, wait_s: float = 0.0, max_bytes: int | None = None) -> MqMessage | None:
        message: MqMessage | None = self._inner.get(wait_s, max_bytes)
        if message is not None:
            self._points.hit("qb.after_get")
        return message

    def commit(self) -> None:
        self._points.hit("qb.before_commit")
        self._inner.commit()


class _QueueBuilderWal(_Around):
    def append(self, segment: WalSegment, data: bytes) -> None:
        self._inner.append(segment, data)
        self._points.hit("qb.after_wal")


class _QueueBuilderPublisher(_Around):
    def publish(self, statements: list[OutboundStatement]) -> None:
        self._inner.publish(statements)
        self._points.hit("qb.after_send")


class _RunnerStore(_Around):
    def claim(self, **fields: Any) -> ClaimRecord:
        record: ClaimRecord = self._inner.claim(**fields)
        self._points.hit("runner.after_claim")
        return record

    def take_over(
        self, record: ClaimRecord, *, region: str, epoch: int, lease_until: datetime
    ) -> ClaimRecord:
        taken: ClaimRecord = self._inner.take_over(
            record, region=region, epoch=epoch, lease_until=lease_until
        )
        if lease_until > record.lease_until:  # a claim of an expired lease, not the runner's release
            self._points.hit("runner.after_claim")
        return taken

    def mark_delivered(self, record: ClaimRecord, details: Mapping[str, str]) -> ClaimRecord:
        after_delivery = self._points.follows_delivery()
        self._points.note_delivery(False)
        try:
            marked: ClaimRecord = self._inner.mark_delivered(record, details)
        except PreconditionFailed:
            if after_delivery:  # superseded: the runner reaches the same window without a record
                self._points.hit("runner.after_record")
            raise
        if after_delivery:  # not the in-doubt path where the target confirmed an earlier delivery
            self._points.hit("runner.after_record")
        return marked


class _RunnerTarget(_Around):
    def deliver(self, delivery_key: str, payload: bytes, metadata: Mapping[str, str]) -> None:
        self._points.note_delivery(False)
        self._inner.deliver(delivery_key, payload, metadata)
        self._points.note_delivery(True)
        self._points.hit("runner.after_deliver")

    def was_delivered(self, delivery_key: str) -> bool | None:
        self._points.note_delivery(False)
        answer: bool | None = self._inner.was_delivered(delivery_key)
        return answer


def _translate(points: CrashPoints, translate: Callable[[bytes], T]) -> Callable[[bytes], T]:
    def translated(body: bytes) -> T:
        result = translate(body)
        points.hit("runner.before_deliver")
        return result

    return translated


class _ReplayWal(_Around):
    _serial = threading.Lock()

    def read_entry(self, locator: WalLocator) -> Any:
        with self._serial:
            self._points.hit("replay.entry")
        return self._inner.read_entry(locator)

    def read_index(self, name: str) -> Any:
        with self._serial:
            self._points.hit("replay.entry")
        return self._inner.read_index(name)

    def read_segment(self, name: str) -> Any:
        with self._serial:
            self._points.hit("replay.entry")
        return self._inner.read_segment(name)


_WRAPPERS: dict[tuple[str, str], Callable[[CrashPoints, Any], object]] = {
    ("queue_builder", "mq"): _QueueBuilderMq,
    ("queue_builder", "wal"): _QueueBuilderWal,
    ("queue_builder", "publisher"): _QueueBuilderPublisher,
    ("runner", "store"): _RunnerStore,
    ("runner", "target"): _RunnerTarget,
    ("runner", "translate"): _translate,
    ("replay", "wal"): _ReplayWal,
}
