"""Finding WAL records for the operations desk: by ingest time (trace of an account, reconcile) and by
message (trace, resend).

The WAL is a sequence of segments named epoch-major (:func:`~shared.model.segment_name`), so a name
says nothing about the day; each listed segment carries ``written_at`` in its metadata
(:class:`~shared.model.SegmentInfo`), and every record of a segment was ingested at or before the
segment was written (the QueueBuilder writes a unit's segment after getting its messages). A window
``[since, until)`` therefore

* starts at the epoch in force at ``since``: epochs follow each other in time (a new epoch starts only
  after the previous holder's lease, plus the clock-skew margin), so one ``list(limit=1)`` per epoch,
  from the first, finds the last epoch whose first segment was written :data:`UNIT_SLACK` or more
  before ``since`` (the slack covers the previous holder's last unit, written within its lease guard
  on a clock that may be skewed);
* skips, without reading their index, segments written before ``since``;
* stops at the first segment written :data:`UNIT_SLACK` after ``until`` (no unit of work lasts that
  long: a QueueBuilder run drains for ``QUEUE_BUILDER_DRAIN_S``, seconds).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from shared.errors import NotFound
from shared.model import ClaimRecord, WalEntry, reused_message_id
from shared.ports import WriteAheadLog
from shared.telemetry import log_event, metrics
from shared.wal_segment import UnreadableWalEntry

log = logging.getLogger("bridge.wal_scan")

#: Longer than any unit of work: a segment written this long after ``until`` holds no earlier record.
UNIT_SLACK = timedelta(hours=1)
#: The most WAL records one window looks at (about 1,600 index reads of 128-record segments).
MAX_SCAN = 200_000
#: ``{epoch:010d}~`` sorts after every name in the epoch's folder (``{epoch:010d}/…``: ``/`` < ``~``)
#: and before the next epoch's, without being inside the folder (the Blob listing then skips the
#: folder instead of walking it).
_PAST_EPOCH = "~"


def wal_window(
    wal: WriteAheadLog,
    since: datetime,
    until: datetime,
    unreadable: list[UnreadableWalEntry] | None = None,
) -> Iterator[WalEntry]:
    """WAL records ingested in ``[since, until)``, in ingest order (at most :data:`MAX_SCAN` looked at).

    A segment whose index cannot be read is left out, reported (event ``wal.unreadable``, metric
    ``wal_unreadable``) and added to ``unreadable``: its records are not known, which a reconciliation
    must say."""
    scanned = 0
    for info in wal.list(after=_epoch_of(wal, since)):
        if info.written_at >= until + UNIT_SLACK or scanned >= MAX_SCAN:
            return
        if info.written_at < since:
            continue
        try:
            segment = wal.read_index(info.name)
        except UnreadableWalEntry as error:
            metrics.incr("wal_unreadable")
            log_event(log, logging.ERROR, "wal.unreadable", segment=error.name, error=str(error))
            if unreadable is not None:
                unreadable.append(error)
            continue
        for entry in segment.entries:
            scanned += 1
            if since <= entry.ingested_at < until:
                yield entry


def _epoch_of(wal: WriteAheadLog, since: datetime) -> str | None:
    """Where a listing for ``since`` starts: just before the folder of the last epoch whose first
    segment was written at or before ``since`` (``None``: from the first segment)."""
    start = None
    first = next(iter(wal.list(limit=1)), None)
    # UNIT_SLACK before ``since``: the previous holder may still write a unit's segment of its epoch
    # while the new epoch starts (within its lease guard and the clocks' skew, seconds).
    while first is not None and first.written_at <= since - UNIT_SLACK:
        start = f"{first.epoch:010d}"  # lists the whole epoch folder "{epoch:010d}/..."
        first = next(iter(wal.list(after=f"{first.epoch:010d}{_PAST_EPOCH}", limit=1)), None)
    return start


def record_entry(wal: WriteAheadLog, record: ClaimRecord) -> WalEntry | None:
    """The WAL record of an idempotency record (its segment is ``record.wal_name``; under a reused MsgId
    the record's id is derived from the body's hash); ``None`` when the segment or the record is gone."""
    if not record.wal_name:
        return None
    try:
        segment = wal.read_index(record.wal_name)
    except NotFound:
        return None
    return next((e for e in segment.entries if _is_record_of(e, record)), None)


def _is_record_of(entry: WalEntry, record: ClaimRecord) -> bool:
    ids = (entry.message_id, reused_message_id(entry.message_id, entry.sha256))
    return record.message_id in ids and record.body_sha256 in ("", entry.sha256)
