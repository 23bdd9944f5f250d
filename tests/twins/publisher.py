"""In-memory twin of :class:`shared.ports.StatementPublisher`: a list, with MessageId dedup."""

from __future__ import annotations

from shared.model import InboundStatement, OutboundStatement
from shared.ports import StatementPublisher
from tests.twins._base import Twin


class InMemoryPublisher(Twin, StatementPublisher):
    """``sent`` holds every accepted statement in order; ``received()`` is what a consumer would get.

    ``claim_check_bytes`` mirrors the Service Bus adapter: a body above it travels by claim check
    (``received()`` then has ``body=None`` and ``claim_check=True``). ``None`` = never.
    """

    service = "servicebus"

    def __init__(self, claim_check_bytes: int | None = None) -> None:
        super().__init__()
        self.sent: list[OutboundStatement] = []
        self._seen: set[str] = set()
        self.claim_check_bytes = claim_check_bytes

    def publish(self, statements: list[OutboundStatement]) -> None:
        with self.lock:
            self._check()
            for statement in statements:
                if statement.message_id not in self._seen:  # duplicate detection by MessageId
                    self._seen.add(statement.message_id)
                    self.sent.append(statement)

    def probe(self) -> str:
        with self.lock:
            self._check()
        return "reachable"

    def received(self) -> list[InboundStatement]:
        """The sent statements as the runner would receive them (first delivery)."""
        with self.lock:
            return [self._inbound(s) for s in self.sent]

    def _inbound(self, s: OutboundStatement) -> InboundStatement:
        claim = self.claim_check_bytes is not None and len(s.body) > self.claim_check_bytes
        return InboundStatement(
            message_id=s.message_id,
            session_id=s.session_id,
            body=None if claim else s.body,
            wal=s.wal,
            epoch=s.epoch,
            sequence=s.sequence,
            region=s.region,
            claim_check=claim,
        )
