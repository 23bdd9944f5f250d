"""In-memory twin of :class:`shared.ports.MqSource`: a queue with syncpoint semantics."""

from __future__ import annotations

from collections import deque

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
            self.backout_queue.extend(self._moved)
            self._uncommitted.clear()
            self._moved.clear()

    def backout(self) -> None:
        with self.lock:
            self._check()
            for message in reversed(self._uncommitted):
                self.queue.appendleft(
                    MqMessage(message.message_id, message.body, message.backout_count + 1, message.put_time)
                )
            self._uncommitted.clear()
            self._moved.clear()

    def to_backout_queue(self, message: MqMessage, reason: str) -> None:
        with self.lock:
            self._check()
            self._moved.append((message, reason))

    def depth(self) -> int:
        self._check()
        return len(self.queue)

    def crash(self) -> None:
        """Test helper: the connection dies with a unit of work open; MQ backs it out."""
        with self.lock:
            was, self.available = self.available, True
            self.backout()
            self.available = was
