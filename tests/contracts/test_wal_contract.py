"""WriteAheadLog contract: one suite, run against the in-memory twin and the Blob adapter on Azurite.

The real adapter talks to the stack's DC04 Azurite through :class:`dev.proxy.TcpProxy`, so "the
server going away" is a cut on the road, not a stopped service. Each test uses its own container.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.pipeline.transport import HttpRequest, RequestsTransport

from dev.proxy import TcpProxy
from shared.adapters.blob_wal import BlobOptions, BlobWriteAheadLog, UnreadableWalEntry
from shared.errors import AlreadyExists, NotFound, ServiceUnavailable
from shared.model import WalEntry
from shared.ports import WriteAheadLog
from shared.settings import Connection
from shared.wal_dual import DualRegionWriteAheadLog
from tests.twins import InMemoryWriteAheadLog

DAY1 = datetime(2026, 11, 25, 23, 59, 58, tzinfo=UTC)
DAY2 = datetime(2026, 11, 26, 0, 0, 1, 250000, tzinfo=UTC)


def entry_for(
    at: datetime, epoch: int, sequence: int, body: bytes, session: str = "CH93 0076 2011"
) -> WalEntry:
    message_id = hashlib.sha256(b"%d/%d" % (epoch, sequence)).hexdigest()[:48]
    return WalEntry(
        name=WalEntry.name_for(at, epoch, sequence, message_id),
        message_id=message_id,
        session_id=session,
        epoch=epoch,
        sequence=sequence,
        region="DC04",
        ingested_at=at,
        sha256=hashlib.sha256(body).hexdigest(),
        size=len(body),
    )


class Outage:
    """How a test makes the service go away and come back."""

    def __init__(self, cut: object, restore: object) -> None:
        self.cut = cut
        self.restore = restore


class WalContract:
    """The contract every WriteAheadLog keeps. Subclasses provide ``wal`` and ``outage``."""

    @pytest.fixture
    def wal(self) -> WriteAheadLog:
        raise NotImplementedError

    @pytest.fixture
    def outage(self, wal: WriteAheadLog) -> Outage:
        raise NotImplementedError

    def test_append_and_read_round_trip_with_metadata(self, wal: WriteAheadLog) -> None:
        body = b"<Document>\xc3\xbc</Document>"
        entry = entry_for(DAY1, 3, 42, body, session="Zürich 100% konto")
        wal.append(entry, body)
        assert wal.read(entry.name) == (entry, body)
        assert list(wal.list()) == [entry]

    def test_append_is_create_only_same_body_is_success(self, wal: WriteAheadLog) -> None:
        entry = entry_for(DAY1, 1, 1, b"same")
        wal.append(entry, b"same")
        wal.append(entry, b"same")
        assert wal.read(entry.name) == (entry, b"same")
        assert len(list(wal.list())) == 1

    def test_append_of_another_body_under_the_name_is_already_exists(self, wal: WriteAheadLog) -> None:
        entry = entry_for(DAY1, 1, 1, b"first")
        wal.append(entry, b"first")
        with pytest.raises(AlreadyExists):
            wal.append(entry, b"second")
        assert wal.read(entry.name)[1] == b"first"

    def test_list_is_in_ingest_order_across_days_and_epochs(self, wal: WriteAheadLog) -> None:
        written = [
            (DAY2, 2, 1),
            (DAY1, 1, 10),
            (DAY2, 1, 12),
            (DAY1, 1, 9),
            (DAY1, 2, 1),
            (DAY2, 2, 100),
            (DAY2, 10, 1),
        ]
        for at, epoch, sequence in written:
            wal.append(entry_for(at, epoch, sequence, b"x"), b"x")
        listed = [(e.ingested_at, e.epoch, e.sequence) for e in wal.list()]
        assert listed == [
            (DAY1, 1, 9),
            (DAY1, 1, 10),
            (DAY1, 2, 1),
            (DAY2, 1, 12),
            (DAY2, 2, 1),
            (DAY2, 2, 100),
            (DAY2, 10, 1),
        ]

    def test_list_after_a_checkpoint_and_limit(self, wal: WriteAheadLog) -> None:
        names = {}
        for at, epoch, sequence in [(DAY1, 1, 1), (DAY1, 1, 2), (DAY1, 2, 1), (DAY2, 2, 2), (DAY2, 3, 1)]:
            entry = entry_for(at, epoch, sequence, b"x")
            wal.append(entry, b"x")
            names[(at, epoch, sequence)] = entry.name

        def seqs(after: str | None, limit: int | None = None) -> list[tuple[int, int]]:
            return [(e.epoch, e.sequence) for e in wal.list(after, limit)]

        assert seqs(names[(DAY1, 1, 2)]) == [(2, 1), (2, 2), (3, 1)]
        assert seqs(names[(DAY1, 2, 1)]) == [(2, 2), (3, 1)]
        assert seqs(names[(DAY2, 3, 1)]) == []
        assert seqs(names[(DAY1, 1, 1)], limit=2) == [(1, 2), (2, 1)]
        assert seqs(None, limit=1) == [(1, 1)]
        assert seqs(None, limit=0) == []
        # A checkpoint that names no blob: between two entries, before the first day, after the last.
        assert seqs(f"{DAY1:%Y%m%d}/0000000001/000000000001-zzzz") == [(1, 2), (2, 1), (2, 2), (3, 1)]
        assert seqs("20200101/0000000009/000000000009-a") == [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1)]
        assert seqs(f"{DAY2:%Y%m%d}/0000000002/") == [(2, 2), (3, 1)]
        assert seqs("20991231") == []

    def test_read_of_a_missing_name_is_not_found(self, wal: WriteAheadLog) -> None:
        with pytest.raises(NotFound):
            wal.read(f"{DAY1:%Y%m%d}/0000000001/000000000001-missing")

    def test_server_going_away_is_service_unavailable_and_leaves_nothing_half_written(
        self, wal: WriteAheadLog, outage: Outage
    ) -> None:
        kept = entry_for(DAY1, 1, 1, b"kept")
        wal.append(kept, b"kept")
        lost = entry_for(DAY1, 1, 2, b"during the outage")
        outage.cut()  # type: ignore[operator]
        try:
            with pytest.raises(ServiceUnavailable):
                wal.append(lost, b"during the outage")
            with pytest.raises(ServiceUnavailable):
                list(wal.list())
            with pytest.raises(ServiceUnavailable):
                wal.read(kept.name)
        finally:
            outage.restore()  # type: ignore[operator]
        assert list(wal.list()) == [kept]
        wal.append(lost, b"during the outage")
        assert list(wal.list()) == [kept, lost]


class TestInMemoryWal(WalContract):
    @pytest.fixture
    def wal(self) -> WriteAheadLog:
        return InMemoryWriteAheadLog()

    @pytest.fixture
    def outage(self, wal: WriteAheadLog) -> Outage:
        assert isinstance(wal, InMemoryWriteAheadLog)

        def switch(on: bool) -> None:
            wal.available = on

        return Outage(lambda: switch(False), lambda: switch(True))


def _through(connection_string: str, port: str, proxy_port: int) -> str:
    return connection_string.replace(f"127.0.0.1:{port}", f"127.0.0.1:{proxy_port}")


@pytest.fixture
def blob_proxy(stack: dict[str, str]) -> Iterator[TcpProxy]:
    proxy = TcpProxy(0, ("127.0.0.1", int(stack["STACK_BLOB_PORT_DC04"])))
    proxy.start()
    yield proxy
    proxy.stop()


FAST = BlobOptions(
    connection_timeout_s=1.0, read_timeout_s=1.0, retry_total=1, retry_backoff_s=0.05, index_tags=True
)


class TestBlobWal(WalContract):
    @pytest.fixture
    def wal(self, stack: dict[str, str], blob_proxy: TcpProxy) -> WriteAheadLog:
        conn = _through(stack["STACK_BLOB_DC04"], stack["STACK_BLOB_PORT_DC04"], blob_proxy.port)
        return BlobWriteAheadLog(Connection("WalStorageDC04", conn), f"wal-{uuid.uuid4().hex[:12]}", FAST)

    @pytest.fixture
    def outage(self, blob_proxy: TcpProxy) -> Outage:
        return Outage(blob_proxy.cut, blob_proxy.restore)

    def test_a_silent_partition_times_out_as_service_unavailable(
        self, wal: WriteAheadLog, blob_proxy: TcpProxy
    ) -> None:
        entry = entry_for(DAY1, 1, 1, b"x")
        wal.append(entry, b"x")
        blob_proxy.cut("hold")
        try:
            with pytest.raises(ServiceUnavailable):
                wal.read(entry.name)
        finally:
            blob_proxy.restore()
        assert wal.read(entry.name) == (entry, b"x")

    def test_a_cut_during_an_upload_leaves_the_whole_entry_or_nothing(
        self, wal: WriteAheadLog, blob_proxy: TcpProxy
    ) -> None:
        body = bytes(range(256)) * (32 * 1024)  # 8 MiB, so the cut usually lands mid-request
        entry = entry_for(DAY1, 1, 1, body)
        wal.append(entry_for(DAY1, 1, 0, b"before"), b"before")  # the container exists already
        cutter = threading.Timer(0.02, blob_proxy.cut)
        cutter.start()
        try:
            wal.append(entry, body)
        except ServiceUnavailable:
            pass  # the usual outcome; the server may still have committed the blob
        finally:
            cutter.join()
            blob_proxy.restore()
        # Never a blob without its metadata: list() would raise UnreadableWalEntry on one.
        listed = [e.sequence for e in wal.list()]
        assert listed in ([0], [0, 1])
        wal.append(entry, body)  # the caller's retry succeeds either way
        assert wal.read(entry.name) == (entry, body)

    def test_a_limited_list_asks_the_server_for_one_small_page(
        self, wal: WriteAheadLog, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The health probe's ``list(limit=1)`` must not read the server's default 5,000-entry page."""
        entries = [entry_for(DAY1, 1, n, b"x") for n in range(6)]
        for entry in entries:
            wal.append(entry, b"x")
        queries: list[str] = []
        send = RequestsTransport.send

        def recording(transport: RequestsTransport, request: HttpRequest, **kwargs: Any) -> Any:
            queries.append(request.url.partition("?")[2])
            return send(transport, request, **kwargs)

        monkeypatch.setattr(RequestsTransport, "send", recording)
        assert list(wal.list(limit=1)) == entries[:1]
        assert list(wal.list(after=entries[1].name, limit=2)) == entries[2:4]
        listings = [q for q in queries if "comp=list" in q]
        assert listings and all("maxresults=" in q for q in listings), listings
        assert max(int(q.split("maxresults=")[1].split("&")[0]) for q in listings) == 2

    def test_index_tags_find_an_entry_by_message_id(self, wal: WriteAheadLog) -> None:
        assert isinstance(wal, BlobWriteAheadLog)
        entry = entry_for(DAY1, 1, 1, b"x")
        wal.append(entry, b"x")
        container = wal._container.client()
        found = [b.name for b in container.find_blobs_by_tags(f"message_id='{entry.message_id}'")]
        assert found == [entry.name]

    def test_a_blob_without_entry_metadata_is_reported_not_skipped(self, wal: WriteAheadLog) -> None:
        assert isinstance(wal, BlobWriteAheadLog)
        good = entry_for(DAY1, 1, 1, b"x")
        wal.append(good, b"x")
        stray = f"{DAY1:%Y%m%d}/0000000001/000000000002-stray"
        wal._container.client().upload_blob(stray, b"written by hand")
        with pytest.raises(UnreadableWalEntry) as raised:
            list(wal.list())
        assert raised.value.name == stray
        assert [e.name for e in wal.list(after=stray)] == []
        with pytest.raises(UnreadableWalEntry):
            wal.read(stray)


class TestDualRegionWalOnTwins(WalContract):
    """The composite keeps the port's contract; its outage is both regions away."""

    @pytest.fixture
    def wal(self) -> WriteAheadLog:
        return DualRegionWriteAheadLog(
            InMemoryWriteAheadLog(), InMemoryWriteAheadLog(), own_region="DC04", peer_region="DC06"
        )

    @pytest.fixture
    def outage(self, wal: WriteAheadLog) -> Outage:
        assert isinstance(wal, DualRegionWriteAheadLog)
        twins = [wal.own, wal.peer]

        def switch(on: bool) -> None:
            for twin in twins:
                assert isinstance(twin, InMemoryWriteAheadLog)
                twin.available = on

        return Outage(lambda: switch(False), lambda: switch(True))


@pytest.fixture
def dc06_proxy(stack: dict[str, str]) -> Iterator[TcpProxy]:
    proxy = TcpProxy(0, ("127.0.0.1", int(stack["STACK_BLOB_PORT_DC06"])))
    proxy.start()
    yield proxy
    proxy.stop()


class TestDualRegionWalOnAzurite(WalContract):
    """Both regions' Azurite, each behind its own proxy: DC04 local, DC06 peer."""

    @pytest.fixture
    def wal(self, stack: dict[str, str], blob_proxy: TcpProxy, dc06_proxy: TcpProxy) -> WriteAheadLog:
        container = f"wal-{uuid.uuid4().hex[:12]}"
        regions = {}
        for region, proxy in (("DC04", blob_proxy), ("DC06", dc06_proxy)):
            port = stack[f"STACK_BLOB_PORT_{region}"]
            conn = _through(stack[f"STACK_BLOB_{region}"], port, proxy.port)
            regions[region] = BlobWriteAheadLog(Connection(f"WalStorage{region}", conn), container, FAST)
        return DualRegionWriteAheadLog(
            regions["DC04"], regions["DC06"], own_region="DC04", peer_region="DC06", allow_degraded=True
        )

    @pytest.fixture
    def outage(self, blob_proxy: TcpProxy, dc06_proxy: TcpProxy) -> Outage:
        def cut() -> None:
            blob_proxy.cut()
            dc06_proxy.cut()

        def restore() -> None:
            blob_proxy.restore()
            dc06_proxy.restore()

        return Outage(cut, restore)

    def test_peer_away_degraded_write_then_reconcile(self, wal: WriteAheadLog, dc06_proxy: TcpProxy) -> None:
        assert isinstance(wal, DualRegionWriteAheadLog)
        both = entry_for(DAY1, 1, 1, b"both")
        wal.append(both, b"both")
        dc06_proxy.cut()
        try:
            lone = entry_for(DAY1, 1, 2, b"DC04 only")
            outcome = wal.append_reporting(lone, b"DC04 only")
        finally:
            dc06_proxy.restore()
        assert outcome.regions == ("DC04",)
        assert wal.degraded_writes == 1
        assert [e.sequence for e in wal.peer.list()] == [1]
        assert wal.reconcile() == {"DC04": 0, "DC06": 1}
        assert wal.peer.read(lone.name) == (lone, b"DC04 only")

    def test_local_away_reads_and_lists_the_peer_copy(self, wal: WriteAheadLog, blob_proxy: TcpProxy) -> None:
        assert isinstance(wal, DualRegionWriteAheadLog)
        entries = [entry_for(DAY1, 1, n, b"x%d" % n) for n in (1, 2, 3)]
        for entry in entries:
            wal.append(entry, b"x%d" % entry.sequence)
        blob_proxy.cut()
        try:
            assert list(wal.list(after=entries[0].name)) == entries[1:]
            assert wal.read(entries[2].name) == (entries[2], b"x3")
        finally:
            blob_proxy.restore()
        assert wal.fallback_reads == 2
