"""A message Service Bus refuses as such stays that message's problem, not its unit's.

Service Bus refuses some messages for what they are (``PublishRejected``: e.g. a property it does not
accept; ``MessageTooLarge``: too large even by claim check), permanently: sending them again cannot
help. The QueueBuilder sends a unit in one call; when that call is refused as such, :func:`publish_each`
sends the unit again one message at a time, in order (the ones that went through already are dropped
by Service Bus duplicate detection on their MessageId), and names the refused ones, so the rest of the
unit is sent and committed and nobody else is backed out or counted for them. :func:`record_failed`
makes a refused message's idempotency record ``FAILED`` (final), so a replay of the WAL does not
republish its record into the same refusal.
"""

from __future__ import annotations

from datetime import datetime

from shared.errors import AlreadyExists, PermanentError
from shared.model import OutboundStatement, WalEntry, delivery_key_for
from shared.ports import IdempotencyStore, StatementPublisher

Refused = list[tuple[OutboundStatement, PermanentError]]


def publish_each(publisher: StatementPublisher, statements: list[OutboundStatement]) -> Refused:
    """Send ``statements`` (one call); if it is refused as such, one by one. Returns the refused ones
    with their errors (none when the whole call went through). Transient errors go up."""
    try:
        publisher.publish(statements)
        return []
    except PermanentError as error:
        if len(statements) == 1:
            return [(statements[0], error)]
    refused: Refused = []
    for statement in statements:
        try:
            publisher.publish([statement])
        except PermanentError as error:
            refused.append((statement, error))
    return refused


def record_failed(
    records: IdempotencyStore, entry: WalEntry, error: PermanentError, *, region: str, now: datetime
) -> None:
    """Record ``entry``'s message ``FAILED`` with ``error``'s reason. A record that exists already (a
    reused MsgId, an earlier ingest) is left as it is: the runner owns it."""
    try:
        claim = records.claim(
            message_id=entry.message_id,
            session_id=entry.session_id,
            region=region,
            epoch=entry.epoch,
            delivery_key=delivery_key_for(entry.message_id),
            lease_until=now,
            wal_name=entry.segment,
            sequence=entry.sequence,
            body_sha256=entry.sha256,
        )
    except AlreadyExists:
        return
    records.mark_failed(claim, error.reason, {"error": str(error)[:1000], "by": "queue_builder"})
