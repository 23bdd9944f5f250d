"""In-memory twin of :class:`shared.ports.WriteAheadLog` (segments kept as the bytes the Blob adapter
would store, decoded by the same :mod:`shared.wal_segment` functions, so damage raises the same errors)."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

from shared.errors import AlreadyExists, NotFound
from shared.model import SegmentInfo, WalLocator, WalSegment, segment_name
from shared.ports import WriteAheadLog
from shared.wal_segment import SegmentInput, checked_body, decode_index, encode
from tests.twins._base import Twin

_WHAT = "WAL segment"
#: The time test segments are written at (unless a test gives one).
AT = datetime(2026, 11, 26, 4, 30, tzinfo=UTC)


def make_segment(
    epoch: int,
    first_sequence: int,
    bodies: Sequence[bytes],
    *,
    region: str = "DC04",
    unique: str = "t0",
    sessions: Sequence[str] | None = None,
    message_ids: Sequence[str] | None = None,
    at: datetime = AT,
    ingested: Sequence[datetime] = (),
) -> tuple[WalSegment, bytes]:
    """A segment of ``bodies`` (sequences ``first_sequence``, ``first_sequence + 1``, …) written at
    ``at``, as the QueueBuilder writes one: :func:`shared.wal_segment.encode`'s segment and bytes.
    Message ids default to a hash of ``(epoch, sequence)``; sessions to one account; ingest times to one
    millisecond apart, the last one a millisecond before ``at`` (a record is ingested before its
    segment is written), or ``ingested``, one per body."""
    times = list(ingested) or [at - timedelta(milliseconds=len(bodies) - n) for n in range(len(bodies))]
    inputs = [
        SegmentInput(
            message_id=(
                message_ids[n]
                if message_ids
                else hashlib.sha256(b"%d/%d" % (epoch, first_sequence + n)).hexdigest()[:48]
            ),
            session_id=sessions[n] if sessions else "CH9300762011623852957",
            sequence=first_sequence + n,
            ingested_at=times[n],
            body=body,
        )
        for n, body in enumerate(bodies)
    ]
    return encode(segment_name(epoch, first_sequence, region, unique), region, epoch, at, inputs)


class InMemoryWriteAheadLog(Twin, WriteAheadLog):
    service = "blob"

    def __init__(self) -> None:
        super().__init__()
        self._names: list[str] = []
        self._blobs: dict[str, tuple[SegmentInfo, bytes]] = {}

    def append(self, segment: WalSegment, data: bytes) -> None:
        with self.lock:
            self._check()
            existing = self._blobs.get(segment.name)
            if existing is not None:
                if existing[1] == data:
                    return
                raise AlreadyExists(_WHAT, segment.name)
            bisect.insort(self._names, segment.name)
            self._blobs[segment.name] = (segment.info, bytes(data))

    def put_raw(self, name: str, info: SegmentInfo, data: bytes) -> None:
        """Store ``data`` under ``name`` as is (a damaged or foreign blob, for tests)."""
        with self.lock:
            if name not in self._blobs:
                bisect.insort(self._names, name)
            self._blobs[name] = (info, data)

    def read_entry(self, locator: WalLocator) -> bytes:
        data = self._data(locator.segment)
        return checked_body(locator, data[locator.offset : locator.offset + locator.size])

    def read_index(self, name: str) -> WalSegment:
        return decode_index(name, self._data(name))

    def read_segment(self, name: str) -> tuple[WalSegment, bytes]:
        data = self._data(name)
        return decode_index(name, data, len(data)), data

    def list(self, after: str | None = None, limit: int | None = None) -> Iterator[SegmentInfo]:
        self._check()
        with self.lock:
            start = 0 if after is None else bisect.bisect_right(self._names, after)
            names = self._names[start:]
            if limit is not None:
                names = names[:limit]
            infos = [self._blobs[name][0] for name in names]
        yield from infos

    def delete(self, name: str) -> None:
        with self.lock:
            self._check()
            if self._blobs.pop(name, None) is not None:
                self._names.remove(name)

    def _data(self, name: str) -> bytes:
        self._check()
        try:
            return self._blobs[name][1]
        except KeyError:
            raise NotFound(_WHAT, name) from None
