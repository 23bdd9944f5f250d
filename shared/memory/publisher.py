"""In-memory twin of :class:`shared.ports.StatementPublisher`: a list, with MessageId dedup."""

from __future__ import annotations

from shared.memory._base import Twin
from shared.model import OutboundStatement
from shared.ports import StatementPublisher


class InMemoryPublisher(Twin, StatementPublisher):
    service = "servicebus"

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[OutboundStatement] = []
        self._seen: set[str] = set()

    def publish(self, statements: list[OutboundStatement]) -> None:
        with self.lock:
            self._check()
            for statement in statements:
                if statement.message_id not in self._seen:  # duplicate detection by MessageId
                    self._seen.add(statement.message_id)
                    self.sent.append(statement)
