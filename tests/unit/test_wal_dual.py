"""DualRegionWriteAheadLog over the in-memory twins: both copies, degraded mode, fallback reads."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bootstrap import dual_region_wal
from shared.adapters.blob_wal import BlobWriteAheadLog
from shared.errors import AlreadyExists, NotFound, ServiceUnavailable
from shared.model import SegmentInfo, WalSegment
from shared.ports import WriteAheadLog
from shared.settings import Settings
from shared.wal_dual import DegradedWrite, DualRegionWriteAheadLog
from tests.twins import InMemoryWriteAheadLog, make_segment

Segment = tuple[WalSegment, bytes]


def make_seg(sequence: int, body: bytes) -> Segment:
    """A one-record segment (epoch 1) starting at ``sequence``."""
    return make_segment(1, sequence, [body])


def first_sequences(wal: WriteAheadLog, after: str | None = None, limit: int | None = None) -> list[int]:
    return [info.first_sequence for info in wal.list(after, limit)]


@pytest.fixture
def dc04() -> InMemoryWriteAheadLog:
    return InMemoryWriteAheadLog()


@pytest.fixture
def dc06() -> InMemoryWriteAheadLog:
    return InMemoryWriteAheadLog()


def dual(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog, allow_degraded: bool = False
) -> DualRegionWriteAheadLog:
    return DualRegionWriteAheadLog(
        dc04, dc06, own_region="DC04", peer_region="DC06", allow_degraded=allow_degraded
    )


def test_append_writes_both_regions(dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog) -> None:
    wal = dual(dc04, dc06)
    entry = make_seg(1, b"<Document/>")
    outcome = wal.append_reporting(*entry)
    assert outcome.regions == ("DC04", "DC06")
    assert outcome.degraded is None
    assert dc04.read_segment(entry[0].name) == entry
    assert dc06.read_segment(entry[0].name) == entry
    assert wal.degraded_writes == 0


@pytest.mark.parametrize("down", ["DC04", "DC06"])
def test_one_region_down_without_degraded_mode_raises(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog, down: str
) -> None:
    wal = dual(dc04, dc06, allow_degraded=False)
    {"DC04": dc04, "DC06": dc06}[down].available = False
    entry = make_seg(1, b"body")
    with pytest.raises(ServiceUnavailable):
        wal.append(*entry)
    assert wal.degraded_writes == 0
    # The caller backs MQ out and retries later; the copy already written makes the retry idempotent.
    dc04.available = dc06.available = True
    wal.append(*entry)
    assert dc04.read_segment(entry[0].name) == dc06.read_segment(entry[0].name) == entry


@pytest.mark.parametrize(("down", "up"), [("DC06", "DC04"), ("DC04", "DC06")])
def test_degraded_mode_accepts_one_region_and_reports_it(
    dc04: InMemoryWriteAheadLog,
    dc06: InMemoryWriteAheadLog,
    caplog: pytest.LogCaptureFixture,
    down: str,
    up: str,
) -> None:
    reported: list[DegradedWrite] = []
    wal = DualRegionWriteAheadLog(
        dc04,
        dc06,
        own_region="DC04",
        peer_region="DC06",
        allow_degraded=True,
        on_degraded=reported.append,
    )
    twins = {"DC04": dc04, "DC06": dc06}
    twins[down].available = False
    entry = make_seg(7, b"body")
    with caplog.at_level(logging.WARNING, logger="shared.wal_dual"):
        outcome = wal.append_reporting(*entry)
    assert outcome.regions == (up,)
    assert outcome.degraded is not None
    assert (outcome.degraded.written_region, outcome.degraded.failed_region) == (up, down)
    assert isinstance(outcome.degraded.error, ServiceUnavailable)
    assert wal.degraded_writes == 1
    assert reported == [outcome.degraded]
    assert any(
        down in record.getMessage() and entry[0].name in record.getMessage() for record in caplog.records
    )
    assert twins[up].read_segment(entry[0].name) == entry
    twins[down].available = True
    with pytest.raises(NotFound):
        twins[down].read_index(entry[0].name)


def test_both_regions_down_raises_even_in_degraded_mode(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    wal = dual(dc04, dc06, allow_degraded=True)
    dc04.available = dc06.available = False
    with pytest.raises(ServiceUnavailable):
        wal.append(*make_seg(1, b"x"))
    assert wal.degraded_writes == 0


def test_conflict_wins_over_degraded_mode(dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog) -> None:
    wal = dual(dc04, dc06, allow_degraded=True)
    dc04.append(*make_seg(1, b"first"))
    dc06.available = False
    with pytest.raises(AlreadyExists):
        wal.append(*make_seg(1, b"second"))
    assert wal.degraded_writes == 0


def test_read_falls_back_to_the_peer(dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog) -> None:
    wal = dual(dc04, dc06)
    entry = make_seg(1, b"body")
    wal.append(*entry)
    dc04.available = False
    assert wal.read_entry(entry[0].entries[0].locator) == b"body"
    assert wal.read_index(entry[0].name) == entry[0]
    assert wal.read_segment(entry[0].name) == entry
    assert wal.fallback_reads == 3


def test_read_finds_a_degraded_write_in_the_peer(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    wal = dual(dc04, dc06)
    entry = make_seg(1, b"only in DC06")
    dc06.append(*entry)
    assert wal.read_entry(entry[0].entries[0].locator) == b"only in DC06"


def test_read_missing_everywhere_is_not_found(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    with pytest.raises(NotFound):
        dual(dc04, dc06).read_index("0000000001/000000000001-DC04-none")


def test_read_missing_locally_with_peer_down_is_transient(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    dc06.available = False
    with pytest.raises(ServiceUnavailable):
        dual(dc04, dc06).read_index("0000000001/000000000001-DC04-none")


def test_list_reads_local_copy(dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog) -> None:
    wal = dual(dc04, dc06)
    for n in (3, 1, 2):
        wal.append(*make_seg(n, b"b%d" % n))
    dc06.append(*make_seg(9, b"peer"))
    assert first_sequences(wal) == [1, 2, 3]
    assert first_sequences(wal, after=make_seg(1, b"b1")[0].name, limit=1) == [2]


def test_list_falls_back_to_peer_when_local_is_down(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    wal = dual(dc04, dc06)
    for n in (1, 2, 3):
        wal.append(*make_seg(n, b"x"))
    dc04.available = False
    assert first_sequences(wal, limit=2) == [1, 2]
    assert wal.fallback_reads == 1


class _FailingAfter(InMemoryWriteAheadLog):
    """A WAL whose listing breaks after ``good`` entries, as when storage goes away mid-page."""

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good

    def list(self, after: str | None = None, limit: int | None = None) -> Iterator[SegmentInfo]:
        for given, info in enumerate(super().list(after, limit)):
            if given == self.good:
                raise ServiceUnavailable("blob", "connection reset mid-listing")
            yield info


def test_list_continues_from_the_peer_where_local_stopped(dc06: InMemoryWriteAheadLog) -> None:
    local = _FailingAfter(good=2)
    wal = DualRegionWriteAheadLog(local, dc06, own_region="DC04", peer_region="DC06")
    for n in range(1, 6):
        wal.append(*make_seg(n, b"x"))
    assert first_sequences(wal) == [1, 2, 3, 4, 5]
    assert first_sequences(wal, limit=4) == [1, 2, 3, 4]


def test_reconcile_copies_entries_missing_on_either_side(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    wal = dual(dc04, dc06, allow_degraded=True)
    wal.append(*make_seg(1, b"both"))
    dc06.available = False
    wal.append(*make_seg(2, b"dc04 only"))
    dc06.available = True
    dc04.available = False
    dc06_only = make_segment(1, 3, [b"dc06", b"only"])
    wal.append(*dc06_only)
    dc04.available = True
    assert wal.degraded_writes == 2

    assert wal.reconcile() == {"DC04": 1, "DC06": 1}
    assert first_sequences(dc04) == first_sequences(dc06) == [1, 2, 3]
    assert dc04.read_segment(dc06_only[0].name) == dc06_only  # the whole segment, both records
    assert wal.reconcile() == {"DC04": 0, "DC06": 0}


def test_reconcile_with_a_limit_copies_only_what_both_listings_cover(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    for n in (1, 2, 3, 4):
        dc04.append(*make_seg(n, b"x"))
    for n in (1, 3, 4):
        dc06.append(*make_seg(n, b"x"))
    wal = dual(dc04, dc06)
    # DC04 lists 1, 2; DC06 lists 1, 3: only 2 is known to be missing in DC06, 3 is unknown for DC04.
    assert wal.reconcile(limit=2) == {"DC04": 0, "DC06": 1}
    assert first_sequences(dc06) == [1, 2, 3, 4]


def test_dual_region_wal_is_built_from_settings_without_contacting_storage() -> None:
    blob = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/{}"
    env = {
        "BRIDGE_REGION": "DC06",
        "ServiceBusConnection": "Endpoint=sb://127.0.0.1:9;SharedAccessKeyName=x;SharedAccessKey=y",
        "WalStorageDC04": blob.format("dc04"),
        "WalStorageDC06": blob.format("dc06"),
        "CosmosConnection": "AccountEndpoint=http://127.0.0.1:9/;AccountKey=a2V5",
        "RedisConnection": "redis://127.0.0.1:9/0",
        "WAL_CONTAINER": "wal-test",
        "WAL_ALLOW_DEGRADED": "true",
    }
    wal = dual_region_wal(Settings.from_mapping(env))
    assert (wal.own_region, wal.peer_region, wal.allow_degraded) == ("DC06", "DC04", True)
    assert isinstance(wal.own, BlobWriteAheadLog)
    assert isinstance(wal.peer, BlobWriteAheadLog)
    assert wal.own._container.connection.connection_string == blob.format("dc06")
    assert wal.peer._container.connection.connection_string == blob.format("dc04")
    assert wal.own.container_name == wal.peer.container_name == "wal-test"


def test_concurrent_appends_all_reach_both_regions(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    wal = dual(dc04, dc06)
    segments = [make_seg(n, b"%d" % n) for n in range(1, 65)]
    with ThreadPoolExecutor(8) as callers:
        list(callers.map(lambda s: wal.append(*s), segments))
    wal.close()
    assert first_sequences(dc04) == first_sequences(dc06) == list(range(1, 65))


def test_an_unreadable_local_copy_is_read_from_the_peer(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    segment, data = make_segment(1, 1, [b"alpha", b"beta"])
    dc06.append(segment, data)
    dc04.put_raw(segment.name, segment.info, data[:-1] + b"!")  # DC04's copy damaged at rest
    wal = dual(dc04, dc06)
    assert wal.read_entry(segment.entries[1].locator) == b"beta"
    assert wal.read_index(segment.name) == segment
    assert wal.fallback_reads == 1  # the index itself is intact locally: no fallback for it


def test_delete_removes_both_copies_and_reports_a_region_that_could_not_delete(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    wal = dual(dc04, dc06)
    first, second = make_seg(1, b"one"), make_seg(2, b"two")
    wal.append(*first)
    wal.append(*second)
    wal.delete(first[0].name)
    assert first_sequences(dc04) == first_sequences(dc06) == [2]
    dc04.available = False
    with pytest.raises(ServiceUnavailable):
        wal.delete(second[0].name)
    dc04.available = True
    assert (first_sequences(dc04), first_sequences(dc06)) == ([2], [])  # DC06's copy went anyway
    wal.delete(second[0].name)  # the retry finishes it
    assert first_sequences(dc04) == []
