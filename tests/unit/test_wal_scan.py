"""Finding WAL records by time and by record over segments (watchdog/wal_scan.py): the window starts
at the epoch in force, reads no index of a segment written before it, stops after it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shared.model import (
    ClaimRecord,
    RecordState,
    SegmentInfo,
    WalSegment,
    delivery_key_for,
    reused_message_id,
)
from shared.ports import WriteAheadLog
from tests.twins import InMemoryWriteAheadLog
from tests.unit.segments import write_segment
from watchdog.wal_scan import UNIT_SLACK, record_entry, wal_window

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


class CountingWal(InMemoryWriteAheadLog):
    def __init__(self) -> None:
        super().__init__()
        self.listed: list[str | None] = []
        self.indexes: list[str] = []

    def list(self, after: str | None = None, limit: int | None = None) -> Iterator[SegmentInfo]:
        self.listed.append(after)
        return super().list(after, limit)

    def read_index(self, name: str) -> WalSegment:
        self.indexes.append(name)
        return super().read_index(name)


def statements(*ids: str) -> list[tuple[str, str, bytes]]:
    return [(i, "ACC", f"ACC|{i}".encode()) for i in ids]


def three_epochs(wal: WriteAheadLog) -> dict[str, WalSegment]:
    """Epoch 1 on day 0, epoch 2 from day 1, epoch 3 from day 2 (two segments a day, 12 h apart)."""
    segments = {}
    for epoch in (1, 2, 3):
        for half in (0, 1):
            at = T0 + timedelta(days=epoch - 1, hours=12 * half)
            key = f"e{epoch}h{half}"
            segments[key] = write_segment(wal, statements(key), at=at, epoch=epoch, first_sequence=1 + half)
    return segments


def test_a_window_starts_at_the_epoch_in_force_and_reads_no_earlier_index() -> None:
    wal = CountingWal()
    segments = three_epochs(wal)
    since = T0 + timedelta(days=2, hours=6)  # in epoch 3, after its first segment
    found = [e.message_id for e in wal_window(wal, since, since + timedelta(days=1))]
    assert found == ["e3h1"]
    assert wal.indexes == [segments["e3h1"].name]  # e3h0 was written before `since`: not read
    # One probe per epoch (its first segment), then the listing of epoch 3's folder.
    assert wal.listed == [None, "0000000001~", "0000000002~", "0000000003~", "0000000003"]


def test_a_window_before_the_first_segment_lists_from_the_start() -> None:
    wal = CountingWal()
    three_epochs(wal)
    found = [e.message_id for e in wal_window(wal, T0 - timedelta(days=1), T0 + timedelta(hours=13))]
    assert found == ["e1h0", "e1h1"] and wal.listed == [None, None]


def test_records_are_kept_by_their_ingest_time_and_the_walk_stops_after_the_window() -> None:
    wal = CountingWal()
    at = T0 + timedelta(hours=1)
    write_segment(
        wal,
        statements("before", "inside", "after"),
        at=at,
        ingested=[T0 - timedelta(seconds=1), T0 + timedelta(seconds=1), at],
    )
    late = write_segment(wal, statements("late"), at=at + UNIT_SLACK + timedelta(hours=1), first_sequence=4)
    later = write_segment(wal, statements("later"), at=at + UNIT_SLACK + timedelta(hours=2), first_sequence=5)
    found = [e.message_id for e in wal_window(wal, T0, T0 + timedelta(minutes=30))]
    assert found == ["inside"]
    assert late.name not in wal.indexes and later.name not in wal.indexes


def record_of(entry_id: str, segment: WalSegment, sha256: str = "") -> ClaimRecord:
    return ClaimRecord(
        message_id=entry_id,
        session_id="ACC",
        state=RecordState.DELIVERED,
        region="DC04",
        epoch=1,
        delivery_key=delivery_key_for(entry_id),
        lease_until=T0,
        etag="e",
        wal_name=segment.name,
        body_sha256=sha256,
    )


def test_a_record_finds_its_entry_in_its_segment_also_under_a_reused_msgid() -> None:
    wal = CountingWal()
    segment = write_segment(wal, [*statements("a", "b"), ("a", "ACC", b"ACC|another body")], at=T0)
    first, second, reused = segment.entries
    assert record_entry(wal, record_of("b", segment)) == second
    assert record_entry(wal, record_of("a", segment, first.sha256)) == first
    derived = reused_message_id("a", reused.sha256)
    assert record_entry(wal, record_of(derived, segment, reused.sha256)) == reused
    assert record_entry(wal, record_of("zzz", segment)) is None
    assert record_entry(wal, replace(record_of("b", segment), wal_name="")) is None
    wal.delete(segment.name)
    assert record_entry(wal, record_of("b", segment)) is None


def test_a_window_just_after_a_failover_also_reads_the_previous_epochs_last_segment() -> None:
    """The old holder's last unit may be written a little after the new epoch's first (its lease guard,
    the clocks' skew): a window starting between the two still finds it."""
    wal = CountingWal()
    failover = T0 + timedelta(days=1)
    write_segment(wal, statements("old-early"), at=T0, epoch=1)
    write_segment(wal, statements("old-late"), at=failover + timedelta(seconds=3), epoch=1, first_sequence=2)
    write_segment(wal, statements("new-first"), at=failover, epoch=2)
    since = failover + timedelta(seconds=1)
    found = [e.message_id for e in wal_window(wal, since, since + timedelta(hours=1))]
    assert found == ["old-late"]
