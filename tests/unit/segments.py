"""WAL segments written straight into a WAL (twin or adapter) for the readers' tests, as the
QueueBuilder writes them (:func:`shared.wal_segment.encode`, :func:`shared.model.segment_name`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.model import InboundStatement, WalEntry, WalSegment
from shared.ports import WriteAheadLog
from tests.twins.wal import make_segment


def write_segment(
    wal: WriteAheadLog,
    messages: Sequence[tuple[str, str, bytes]],
    *,
    at: datetime,
    epoch: int = 1,
    first_sequence: int = 1,
    region: str = "DC04",
    unique: str = "u",
    ingested: Sequence[datetime] = (),
) -> WalSegment:
    """Append one segment of ``messages`` (``(message_id, session_id, body)``, in ingest order, with
    consecutive sequences from ``first_sequence``), written at ``at`` and ingested at ``at`` (or at
    ``ingested``, one time per message)."""
    segment, data = make_segment(
        epoch,
        first_sequence,
        [body for _, _, body in messages],
        region=region,
        unique=unique,
        sessions=[session for _, session, _ in messages],
        message_ids=[message_id for message_id, _, _ in messages],
        at=at,
        ingested=list(ingested) or [at] * len(messages),
    )
    wal.append(segment, data)
    return segment


def claim_checked(
    entry: WalEntry, *, enqueued_at: datetime | None, delivery_count: int = 1
) -> InboundStatement:
    """What the runner receives for ``entry`` sent by claim check (no body on the message)."""
    return InboundStatement(
        message_id=entry.message_id,
        session_id=entry.session_id,
        body=None,
        wal=entry.locator,
        epoch=entry.epoch,
        sequence=entry.sequence,
        region=entry.region,
        delivery_count=delivery_count,
        enqueued_at=enqueued_at,
        claim_check=True,
    )
