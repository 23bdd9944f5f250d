"""DualRegionWriteAheadLog over the in-memory twins: both copies, degraded mode, fallback reads."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from shared.adapters.blob_wal import BlobWriteAheadLog
from shared.errors import AlreadyExists, NotFound, ServiceUnavailable
from shared.model import WalEntry
from shared.settings import Settings
from shared.wal_dual import DegradedWrite, DualRegionWriteAheadLog, dual_region_wal
from tests.twins import InMemoryWriteAheadLog

AT = datetime(2026, 11, 26, 4, 30, tzinfo=UTC)


def make_entry(sequence: int, body: bytes, epoch: int = 1, message_id: str | None = None) -> WalEntry:
    mid = message_id or f"{sequence:048x}"
    return WalEntry(
        name=WalEntry.name_for(AT, epoch, sequence, mid),
        message_id=mid,
        session_id="CH9300762011623852957",
        epoch=epoch,
        sequence=sequence,
        region="DC04",
        ingested_at=AT,
        sha256=hashlib.sha256(body).hexdigest(),
        size=len(body),
    )


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
    entry = make_entry(1, b"<Document/>")
    outcome = wal.append_reporting(entry, b"<Document/>")
    assert outcome.regions == ("DC04", "DC06")
    assert outcome.degraded is None
    assert dc04.read(entry.name) == (entry, b"<Document/>")
    assert dc06.read(entry.name) == (entry, b"<Document/>")
    assert wal.degraded_writes == 0


@pytest.mark.parametrize("down", ["DC04", "DC06"])
def test_one_region_down_without_degraded_mode_raises(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog, down: str
) -> None:
    wal = dual(dc04, dc06, allow_degraded=False)
    {"DC04": dc04, "DC06": dc06}[down].available = False
    entry = make_entry(1, b"body")
    with pytest.raises(ServiceUnavailable):
        wal.append(entry, b"body")
    assert wal.degraded_writes == 0
    # The caller backs MQ out and retries later; the copy already written makes the retry idempotent.
    dc04.available = dc06.available = True
    wal.append(entry, b"body")
    assert dc04.read(entry.name)[1] == dc06.read(entry.name)[1] == b"body"


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
    entry = make_entry(7, b"body")
    with caplog.at_level(logging.WARNING, logger="shared.wal_dual"):
        outcome = wal.append_reporting(entry, b"body")
    assert outcome.regions == (up,)
    assert outcome.degraded is not None
    assert (outcome.degraded.written_region, outcome.degraded.failed_region) == (up, down)
    assert isinstance(outcome.degraded.error, ServiceUnavailable)
    assert wal.degraded_writes == 1
    assert reported == [outcome.degraded]
    assert any(down in record.getMessage() and entry.name in record.getMessage() for record in caplog.records)
    assert twins[up].read(entry.name)[1] == b"body"
    twins[down].available = True
    with pytest.raises(NotFound):
        twins[down].read(entry.name)


def test_both_regions_down_raises_even_in_degraded_mode(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    wal = dual(dc04, dc06, allow_degraded=True)
    dc04.available = dc06.available = False
    with pytest.raises(ServiceUnavailable):
        wal.append(make_entry(1, b"x"), b"x")
    assert wal.degraded_writes == 0


def test_conflict_wins_over_degraded_mode(dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog) -> None:
    wal = dual(dc04, dc06, allow_degraded=True)
    entry = make_entry(1, b"first")
    dc04.append(entry, b"first")
    dc06.available = False
    with pytest.raises(AlreadyExists):
        wal.append(entry, b"second")
    assert wal.degraded_writes == 0


def test_read_falls_back_to_the_peer(dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog) -> None:
    wal = dual(dc04, dc06)
    entry = make_entry(1, b"body")
    wal.append(entry, b"body")
    dc04.available = False
    assert wal.read(entry.name) == (entry, b"body")
    assert wal.fallback_reads == 1


def test_read_finds_a_degraded_write_in_the_peer(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    wal = dual(dc04, dc06)
    entry = make_entry(1, b"only in DC06")
    dc06.append(entry, b"only in DC06")
    assert wal.read(entry.name) == (entry, b"only in DC06")


def test_read_missing_everywhere_is_not_found(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    with pytest.raises(NotFound):
        dual(dc04, dc06).read("20261126/0000000001/000000000001-none")


def test_read_missing_locally_with_peer_down_is_transient(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    dc06.available = False
    with pytest.raises(ServiceUnavailable):
        dual(dc04, dc06).read("20261126/0000000001/000000000001-none")


def test_list_reads_local_copy(dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog) -> None:
    wal = dual(dc04, dc06)
    for n in (3, 1, 2):
        wal.append(make_entry(n, b"b%d" % n), b"b%d" % n)
    dc06_only = make_entry(9, b"peer")
    dc06.append(dc06_only, b"peer")
    assert [e.sequence for e in wal.list()] == [1, 2, 3]
    assert [e.sequence for e in wal.list(after=make_entry(1, b"b1").name, limit=1)] == [2]


def test_list_falls_back_to_peer_when_local_is_down(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    wal = dual(dc04, dc06)
    for n in (1, 2, 3):
        wal.append(make_entry(n, b"x"), b"x")
    dc04.available = False
    assert [e.sequence for e in wal.list(limit=2)] == [1, 2]
    assert wal.fallback_reads == 1


class _FailingAfter(InMemoryWriteAheadLog):
    """A WAL whose listing breaks after ``good`` entries, as when storage goes away mid-page."""

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good

    def list(self, after: str | None = None, limit: int | None = None) -> Iterator[WalEntry]:
        for given, entry in enumerate(super().list(after, limit)):
            if given == self.good:
                raise ServiceUnavailable("blob", "connection reset mid-listing")
            yield entry


def test_list_continues_from_the_peer_where_local_stopped(dc06: InMemoryWriteAheadLog) -> None:
    local = _FailingAfter(good=2)
    wal = DualRegionWriteAheadLog(local, dc06, own_region="DC04", peer_region="DC06")
    for n in range(1, 6):
        wal.append(make_entry(n, b"x"), b"x")
    assert [e.sequence for e in wal.list()] == [1, 2, 3, 4, 5]
    assert [e.sequence for e in wal.list(limit=4)] == [1, 2, 3, 4]


def test_reconcile_copies_entries_missing_on_either_side(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    wal = dual(dc04, dc06, allow_degraded=True)
    wal.append(make_entry(1, b"both"), b"both")
    dc06.available = False
    wal.append(make_entry(2, b"dc04 only"), b"dc04 only")
    dc06.available = True
    dc04.available = False
    wal.append(make_entry(3, b"dc06 only"), b"dc06 only")
    dc04.available = True
    assert wal.degraded_writes == 2

    assert wal.reconcile() == {"DC04": 1, "DC06": 1}
    assert [e.sequence for e in dc04.list()] == [e.sequence for e in dc06.list()] == [1, 2, 3]
    assert dc04.read(make_entry(3, b"dc06 only").name)[1] == b"dc06 only"
    assert wal.reconcile() == {"DC04": 0, "DC06": 0}


def test_reconcile_with_a_limit_copies_only_what_both_listings_cover(
    dc04: InMemoryWriteAheadLog, dc06: InMemoryWriteAheadLog
) -> None:
    for n in (1, 2, 3, 4):
        dc04.append(make_entry(n, b"x"), b"x")
    for n in (1, 3, 4):
        dc06.append(make_entry(n, b"x"), b"x")
    wal = dual(dc04, dc06)
    # DC04 lists 1, 2; DC06 lists 1, 3: only 2 is known to be missing in DC06, 3 is unknown for DC04.
    assert wal.reconcile(limit=2) == {"DC04": 0, "DC06": 1}
    assert [e.sequence for e in dc06.list()] == [1, 2, 3, 4]


def test_dual_region_wal_is_built_from_settings_without_contacting_storage() -> None:
    blob = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/{}"
    env = {
        "BRIDGE_REGION": "DC06",
        "ServiceBusConnection": "Endpoint=sb://127.0.0.1:9;SharedAccessKeyName=x;SharedAccessKey=y",
        "WalStorageDC04": blob.format("dc04"),
        "WalStorageDC06": blob.format("dc06"),
        "CosmosConnection": "AccountEndpoint=http://127.0.0.1:9/;AccountKey=a2V5",
        "RedisConnection": "redis://127.0.0.1:9/0",
        "MQ_MODE": "folder",
        "MQ_INBOX_DIR": "/tmp/inbox",
        "MESSAGEWAY_MODE": "folder",
        "MESSAGEWAY_OUTBOX_DIR": "/tmp/outbox",
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
    entries = [make_entry(n, b"%d" % n) for n in range(1, 65)]
    with ThreadPoolExecutor(8) as callers:
        list(callers.map(lambda e: wal.append(e, b"%d" % e.sequence), entries))
    wal.close()
    assert [e.sequence for e in dc04.list()] == [e.sequence for e in dc06.list()] == list(range(1, 65))
