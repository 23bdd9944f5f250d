"""In-memory twin of :class:`shared.ports.MqSource`: a queue with syncpoint semantics.

When the switch is off the twin behaves as an MQ client whose connection broke: the call raises
``ServiceUnavailable`` and the open unit of work is backed out (the queue manager does that for a lost
connection), so the next :meth:`commit` raises too instead of pretending the lost work was committed.
:meth:`share` opens a second connection to the same queue (a second consumer). Input is exclusive, as
with ``MQOO_INPUT_EXCLUSIVE``: the first :meth:`get` of a connection takes the queue's one input hold,
which every shared connection sees; while another connection holds it, :meth:`get` returns ``None``.
:meth:`close` (after backing out) and a broken connection (:meth:`crash`, the switch off) release it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from shared.errors import ServiceUnavailable, TooLarge
from shared.model import MqMessage
from shared.ports import MqSource
from tests.twins._base import Twin


@dataclass
class _InputHold:
    """The queue's exclusive-input handle, shared by every connection to the queue."""

    holder: InMemoryMqSource | None = None


class InMemoryMqSource(Twin, MqSource):
    service = "ibmmq"

    def __init__(self) -> None:
        super().__init__()
        self.queue: deque[MqMessage] = deque()
        self.backout_queue: list[tuple[MqMessage, str]] = []
        self._uncommitted: list[MqMessage] = []
        self._moved: list[tuple[MqMessage, str]] = []
        self._lost = False
        self._hold = _InputHold()

    def share(self) -> InMemoryMqSource:
        """Another connection to the same queue (and backout queue), with its own unit of work."""
        other = InMemoryMqSource()
        other.queue, other.backout_queue = self.queue, self.backout_queue
        other.lock, other._hold = self.lock, self._hold
        return other

    def put(self, message_id: str, body: bytes) -> None:
        """Test helper: an application puts a message on the queue."""
        with self.lock:
            self.queue.append(MqMessage(message_id=message_id, body=body))

    def get(self, wait_s: float = 0.0, max_bytes: int | None = None) -> MqMessage | None:
        with self.lock:
            self._check()
            if self._hold.holder is None:
                self._hold.holder = self
            if self._hold.holder is not self or not self.queue:
                return None
            if max_bytes is not None and len(self.queue[0].body) > max_bytes:
                raise TooLarge(len(self.queue[0].body), max_bytes)
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

    def close(self) -> None:
        """Back out the open unit of work, then release the input hold. Never raises: with the switch
        off the connection is gone, and so are its unit of work and its hold."""
        with self.lock:
            self._lost = False
            self._return_uncommitted()
            self._release()

    def holds_input(self) -> bool:
        """Test helper: whether this connection holds the exclusive input."""
        with self.lock:
            return self._hold.holder is self

    def crash(self) -> None:
        """Test helper: the connection dies with a unit of work open; MQ backs it out and releases
        the input hold."""
        with self.lock:
            self._return_uncommitted()
            self._release()

    def _release(self) -> None:
        if self._hold.holder is self:
            self._hold.holder = None

    def _check(self) -> None:
        if not self.available:
            if self._uncommitted:
                self._return_uncommitted()
                self._lost = True
            self._release()  # the queue manager closes a broken connection's handles
            super()._check()

    def _return_uncommitted(self) -> None:
        # Locked by the caller. Back in original order at the head, as MQ restores a backed-out message.
        for message in reversed(self._uncommitted):
            self.queue.appendleft(
                MqMessage(message.message_id, message.body, message.backout_count + 1, message.put_time)
            )
        self._uncommitted.clear()
        self._moved.clear()
