"""In-memory twin of :class:`shared.ports.MqSource`: a queue with syncpoint semantics.

When the switch is off the twin behaves as an MQ client whose connection broke: the call raises
``ServiceUnavailable`` and the open unit of work is backed out (the queue manager does that for a lost
connection), so the next :meth:`commit` raises too instead of pretending the lost work was committed.
:meth:`share` opens a second connection to the same queue (a second consumer).
"""

from __future__ import annotations

from collections import deque

from shared.errors import ServiceUnavailable
from shared.memory._base import Twin
from shared.model import MqMessage
from shared.ports import MqSource


class InMemoryMqSource(Twin, MqSource):
    service = "ibmmq"

    def __init__(self) -> None:
        super().__init__()
        self.queue: deque[MqMessage] = deque()
        self.backout_queue: list[tuple[MqMessage, str]] = []
        self._uncommitted: list[MqMessage] = []
        self._moved: list[tuple[MqMessage, str]] = []
        self._lost = False

    def share(self) -> InMemoryMqSource:
        """Another connection to the same queue (and backout queue), with its own unit of work."""
        other = InMemoryMqSource()
        other.queue, other.backout_queue = self.queue, self.backout_queue
        other.lock = self.lock
        return other

    def put(self, message_id: str, body: bytes) -> None:
        """Test helper: an application puts a message on the queue."""
        with self.lock:
            self.queue.append(MqMessage(message_id=message_id, body=body))

    def get(self, wait_s: float = 0.0) -> MqMessage | None:
        with self.lock:
            self._check()
            if not self.queue:
                return None
            message = self.queue.popleft()
            self._uncommitted.append(message)
            return message

    def commit(self) -> None:
        with self.lock:
            self._check()
            if self._lost:
                self._lost = False
                raise ServiceUnavailable(self.service, "unit of work backed out: the connection broke")
            self.backout_queue.extend(self._moved)
            self._uncommitted.clear()
            self._moved.clear()

    def backout(self) -> None:
        with self.lock:
            self._check()
            self._lost = False
            self._return_uncommitted()

    def to_backout_queue(self, message: MqMessage, reason: str) -> None:
        with self.lock:
            self._check()
            self._moved.append((message, reason))

    def depth(self) -> int:
        with self.lock:
            self._check()
            return len(self.queue)

    def crash(self) -> None:
        """Test helper: the connection dies with a unit of work open; MQ backs it out."""
        with self.lock:
            self._return_uncommitted()

    def _check(self) -> None:
        if not self.available:
            if self._uncommitted:
                self._return_uncommitted()
                self._lost = True
            super()._check()

    def _return_uncommitted(self) -> None:
        # Locked by the caller. Back in original order at the head, as MQ restores a backed-out message.
        for message in reversed(self._uncommitted):
            self.queue.appendleft(
                MqMessage(message.message_id, message.body, message.backout_count + 1, message.put_time)
            )
        self._uncommitted.clear()
        self._moved.clear()
