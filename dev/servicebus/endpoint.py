"""The endpoint's shared state: its queues, the open links, and the pump that feeds receivers.

One asyncio event loop runs everything, so no locks are needed: a frame handler changes a queue,
then calls :meth:`Endpoint.pump`, which sends every receiver link what its credit allows. A ticker
(every 50 ms) expires locks, activates scheduled messages, answers waiting next-available session
receivers and detaches receivers whose session lock ran out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dev.servicebus.broker import Queue
from dev.servicebus.config import QueueConfig

if TYPE_CHECKING:
    from dev.servicebus.link import Link

log = logging.getLogger("dev.servicebus")


def now_ms() -> int:
    return int(time.time() * 1000)


def entity_path(address: str) -> str:
    """``amqps://host:port/q/$management`` → ``q/$management`` (the scheme and host are optional)."""
    if "://" in address:
        address = address.split("://", 1)[1]
        address = address.split("/", 1)[1] if "/" in address else ""
    return address.strip("/")


class Endpoint:
    """The queues and links of one endpoint. ``clock`` (milliseconds since the epoch) is the only
    source of time for the queues, the links and the ticker, so tests can drive it."""

    def __init__(
        self, queues: list[QueueConfig], journal: Any = None, clock: Callable[[], int] = now_ms
    ) -> None:
        self.queues: dict[str, Queue] = {q.name.lower(): Queue(q, journal) for q in queues}
        self.links: set[Link] = set()
        self.waiting: list[Link] = []  # next-available session receivers without a session yet
        self.clock = clock
        self.started_ms = clock()

    def resolve(self, address: str) -> tuple[str, Queue | None]:
        """``(kind, queue)``: kind is ``cbs``, ``management`` or ``entity``; queue ``None`` if unknown."""
        path = entity_path(address)
        if path.lower() == "$cbs":
            return "cbs", None
        kind = "entity"
        if path.lower().endswith("/$management"):
            kind, path = "management", path[: -len("/$management")]
        dead_letter = path.lower().endswith("/$deadletterqueue")
        if dead_letter:
            path = path[: -len("/$deadletterqueue")]
        queue = self.queues.get(path.lower())
        if queue is not None and dead_letter:
            queue = queue.dlq
        return kind, queue

    def pump(self) -> None:
        """Give every entity receiver link what its credit allows; answer waiting session receivers."""
        now = self.clock()
        for link in list(self.waiting):
            link.try_acquire_session(now)
        for link in list(self.links):
            if link.delivers_messages:
                try:
                    link.deliver_available(now)
                except Exception:  # one broken link must not stop deliveries to the others
                    log.exception("delivery to link %s failed; detaching it", link.name)
                    link.release(lost=True)

    def tick(self) -> None:
        now = self.clock()
        for queue in self.queues.values():
            for q in (queue, queue.dlq):
                if q is None:
                    continue
                for owner in q.expire(now):
                    link: Link = owner  # type: ignore[assignment]
                    link.lose_session()
        for link in list(self.waiting):
            link.check_wait_timeout(now)
        self.pump()

    async def run_ticker(self, interval_s: float = 0.05) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                self.tick()
            except Exception:  # the ticker must survive anything, or locks would never expire
                log.exception("endpoint tick failed")

    def stats(self) -> dict[str, Any]:
        now = self.clock()
        result: dict[str, Any] = {"uptime_s": (now - self.started_ms) / 1000, "queues": {}}
        for queue in self.queues.values():
            assert queue.dlq is not None
            result["queues"][queue.config.name] = {**queue.stats(now), "dead_letter": queue.dlq.stats(now)}
        return result
