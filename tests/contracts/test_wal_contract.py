"""WriteAheadLog contract: one suite, run against the in-memory twin, the Blob adapter on Azurite, and
the dual-region composite over both.

A WAL holds one segment per MQ unit of work (:mod:`shared.wal_segment`). The real adapter talks to the
stack's DC04 Azurite through :class:`dev.proxy.TcpProxy`, so "the server going away" is a cut on the
road, not a stopped service. Each test uses its own container. Expected values come from the inputs
(the bodies written, the names built by :func:`shared.model.segment_name`), never from the code under
test.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from azure.core.pipeline.transport import HttpRequest, RequestsTransport

from dev.proxy import TcpProxy
from shared.adapters.blob_wal import INDEX_READ, BlobOptions, BlobWriteAheadLog
from shared.errors import AlreadyExists, NotFound, ServiceUnavailable
from shared.model import WalLocator, WalSegment
from shared.ports import WriteAheadLog
from shared.settings import Connection
from shared.wal_dual import DualRegionWriteAheadLog
from shared.wal_segment import UnreadableWalEntry, info_metadata
from tests.twins import InMemoryWriteAheadLog, make_segment

RawWrite = Callable[[WalSegment, bytes], None]


class Outage:
    """How a test makes the service go away and come back."""

    def __init__(self, cut: Callable[[], None], restore: Callable[[], None]) -> None:
        self.cut = cut
        self.restore = restore


def names(wal: WriteAheadLog, after: str | None = None, limit: int | None = None) -> list[str]:
    return [info.name for info in wal.list(after, limit)]


class WalContract:
    """The contract every WriteAheadLog keeps. Subclasses provide ``wal``, ``outage`` and ``raw``
    (store bytes under a segment's name and metadata as they are, for damage tests)."""

    @pytest.fixture
    def wal(self) -> WriteAheadLog:
        raise NotImplementedError

    @pytest.fixture
    def outage(self, wal: WriteAheadLog) -> Outage:
        raise NotImplementedError

    @pytest.fixture
    def raw(self, wal: WriteAheadLog) -> RawWrite:
        raise NotImplementedError

    def test_append_then_read_index_entries_and_whole_segment(self, wal: WriteAheadLog) -> None:
        bodies = [b"<Document>\xc3\xbc</Document>", b"", b"x" * 5000, "Zürich 100%".encode()]
        sessions = ["Zürich 100% konto", "CH93-A", "CH93-A", "CH93-B"]
        segment, data = make_segment(3, 42, bodies, sessions=sessions, unique="a1")
        wal.append(segment, data)
        assert wal.read_index(segment.name) == segment
        assert [wal.read_entry(entry.locator) for entry in segment.entries] == bodies
        assert wal.read_segment(segment.name) == (segment, data)
        assert list(wal.list()) == [segment.info]
        info = segment.info
        assert (info.epoch, info.first_sequence, info.last_sequence, info.count, info.size) == (
            3,
            42,
            45,
            4,
            len(data),
        )
        assert [(e.sequence, e.session_id, e.size) for e in segment.entries] == [
            (42 + n, sessions[n], len(body)) for n, body in enumerate(bodies)
        ]

    def test_append_is_create_only_the_same_bytes_are_success(self, wal: WriteAheadLog) -> None:
        segment, data = make_segment(1, 1, [b"same"])
        wal.append(segment, data)
        wal.append(segment, data)  # an in-place retry of the unit of work
        assert wal.read_segment(segment.name) == (segment, data)
        assert names(wal) == [segment.name]

    def test_other_bytes_under_the_name_are_already_exists(self, wal: WriteAheadLog) -> None:
        first, data = make_segment(1, 1, [b"first"])
        wal.append(first, data)
        other, other_data = make_segment(1, 1, [b"second", b"third"])
        assert other.name == first.name
        with pytest.raises(AlreadyExists):
            wal.append(other, other_data)
        assert wal.read_segment(first.name) == (first, data)

    def test_list_is_in_ingest_order_epoch_first(self, wal: WriteAheadLog) -> None:
        written = [(2, 1), (1, 10), (1, 12), (1, 9), (10, 1), (2, 100), (1, 100_000_000)]
        for epoch, first in written:
            wal.append(*make_segment(epoch, first, [b"x"]))
        listed = [(info.epoch, info.first_sequence) for info in wal.list()]
        assert listed == [(1, 9), (1, 10), (1, 12), (1, 100_000_000), (2, 1), (2, 100), (10, 1)]

    def test_list_after_a_checkpoint_and_limit(self, wal: WriteAheadLog) -> None:
        built = {key: make_segment(*key, [b"x", b"y"]) for key in [(1, 1), (1, 3), (2, 1), (2, 3), (3, 1)]}
        for segment, data in built.values():
            wal.append(segment, data)
        name = {key: segment.name for key, (segment, _) in built.items()}

        def firsts(after: str | None, limit: int | None = None) -> list[tuple[int, int]]:
            return [(info.epoch, info.first_sequence) for info in wal.list(after, limit)]

        assert firsts(name[(1, 3)]) == [(2, 1), (2, 3), (3, 1)]
        assert firsts(name[(2, 1)]) == [(2, 3), (3, 1)]
        assert firsts(name[(3, 1)]) == []
        assert firsts(name[(1, 1)], limit=2) == [(1, 3), (2, 1)]
        assert firsts(None, limit=1) == [(1, 1)]
        assert firsts(None, limit=0) == []
        # A checkpoint that names no segment: between two, before the first epoch, an epoch folder.
        assert firsts("0000000001/000000000001-DC04-zzzz") == [(1, 3), (2, 1), (2, 3), (3, 1)]
        assert firsts("0000000000/999999999999-DC04-a") == [(1, 1), (1, 3), (2, 1), (2, 3), (3, 1)]
        assert firsts("0000000002/") == [(2, 1), (2, 3), (3, 1)]
        assert firsts("9999999999") == []

    def test_a_missing_segment_is_not_found(self, wal: WriteAheadLog) -> None:
        segment, _ = make_segment(1, 1, [b"never written"])
        with pytest.raises(NotFound):
            wal.read_index(segment.name)
        with pytest.raises(NotFound):
            wal.read_entry(segment.entries[0].locator)
        with pytest.raises(NotFound):
            wal.read_segment(segment.name)

    def test_a_locator_that_does_not_describe_the_bytes_is_unreadable(self, wal: WriteAheadLog) -> None:
        segment, data = make_segment(1, 1, [b"alpha", b"beta"])
        wal.append(segment, data)
        alpha = segment.entries[0].locator
        wrong = [
            replace(alpha, sha256=hashlib.sha256(b"other").hexdigest()),  # the hash of another body
            replace(alpha, offset=alpha.offset + 1),  # shifted: other bytes
            replace(alpha, size=alpha.size + 3),  # longer
            WalLocator(segment.name, len(data) + 10, 5, alpha.sha256),  # beyond the end of the blob
        ]
        for locator in wrong:
            with pytest.raises(UnreadableWalEntry) as caught:
                wal.read_entry(locator)
            assert caught.value.name == segment.name, locator

    def test_damaged_or_foreign_bytes_are_unreadable(self, wal: WriteAheadLog, raw: RawWrite) -> None:
        segment, data = make_segment(1, 1, [b"alpha", b"beta"], unique="dmg")
        foreign, _ = make_segment(1, 5, [b"x"], unique="foreign")
        raw(foreign, b"written by hand, not a segment")
        raw(segment, data[:-2] + b"!!")  # the last body's bytes changed
        with pytest.raises(UnreadableWalEntry):
            wal.read_index(foreign.name)
        assert wal.read_entry(segment.entries[0].locator) == b"alpha"
        with pytest.raises(UnreadableWalEntry):
            wal.read_entry(segment.entries[1].locator)

    def test_delete_is_idempotent(self, wal: WriteAheadLog) -> None:
        kept, kept_data = make_segment(1, 1, [b"kept"])
        gone, gone_data = make_segment(1, 2, [b"gone"])
        wal.append(kept, kept_data)
        wal.append(gone, gone_data)
        wal.delete(gone.name)
        wal.delete(gone.name)
        wal.delete("0000000009/000000000001-DC04-never")
        assert names(wal) == [kept.name]
        with pytest.raises(NotFound):
            wal.read_index(gone.name)

    def test_server_going_away_is_service_unavailable_and_leaves_nothing_half_written(
        self, wal: WriteAheadLog, outage: Outage
    ) -> None:
        kept, kept_data = make_segment(1, 1, [b"kept"])
        wal.append(kept, kept_data)
        lost, lost_data = make_segment(1, 2, [b"during", b"the outage"])
        outage.cut()
        try:
            with pytest.raises(ServiceUnavailable):
                wal.append(lost, lost_data)
            with pytest.raises(ServiceUnavailable):
                list(wal.list())
            with pytest.raises(ServiceUnavailable):
                wal.read_entry(kept.entries[0].locator)
            with pytest.raises(ServiceUnavailable):
                wal.read_index(kept.name)
        finally:
            outage.restore()
        assert names(wal) == [kept.name]
        wal.append(lost, lost_data)
        assert names(wal) == [kept.name, lost.name]


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

    @pytest.fixture
    def raw(self, wal: WriteAheadLog) -> RawWrite:
        assert isinstance(wal, InMemoryWriteAheadLog)
        return lambda segment, data: wal.put_raw(segment.name, segment.info, data)


def _through(connection_string: str, port: str, proxy_port: int) -> str:
    return connection_string.replace(f"127.0.0.1:{port}", f"127.0.0.1:{proxy_port}")


@pytest.fixture
def blob_proxy(stack: dict[str, str]) -> Iterator[TcpProxy]:
    proxy = TcpProxy(0, ("127.0.0.1", int(stack["STACK_BLOB_PORT_DC04"])))
    proxy.start()
    yield proxy
    proxy.stop()


FAST = BlobOptions(connection_timeout_s=1.0, read_timeout_s=1.0, retry_total=1, retry_backoff_s=0.05)


def _raw_blob(wal: WriteAheadLog) -> RawWrite:
    assert isinstance(wal, BlobWriteAheadLog)
    container = wal._container.client()

    def write(segment: WalSegment, data: bytes) -> None:
        container.upload_blob(segment.name, data, metadata=info_metadata(segment.info), overwrite=True)

    return write


class Requests:
    """The HTTP requests the Blob SDK sends while recording (method, query, headers)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[tuple[str, str, dict[str, str]]] = []
        send = RequestsTransport.send

        def recording(transport: RequestsTransport, request: HttpRequest, **kwargs: Any) -> Any:
            self.sent.append((request.method, request.url.partition("?")[2], dict(request.headers)))
            return send(transport, request, **kwargs)

        monkeypatch.setattr(RequestsTransport, "send", recording)

    def ranges(self) -> list[str]:
        return [headers.get("x-ms-range", "") for method, _, headers in self.sent if method == "GET"]


class TestBlobWal(WalContract):
    @pytest.fixture
    def wal(self, stack: dict[str, str], blob_proxy: TcpProxy) -> WriteAheadLog:
        conn = _through(stack["STACK_BLOB_DC04"], stack["STACK_BLOB_PORT_DC04"], blob_proxy.port)
        return BlobWriteAheadLog(Connection("WalStorageDC04", conn), f"wal-{uuid.uuid4().hex[:12]}", FAST)

    @pytest.fixture
    def outage(self, blob_proxy: TcpProxy) -> Outage:
        return Outage(blob_proxy.cut, blob_proxy.restore)

    @pytest.fixture
    def raw(self, wal: WriteAheadLog) -> RawWrite:
        return _raw_blob(wal)

    def test_one_record_is_one_ranged_read_of_its_bytes(
        self, wal: WriteAheadLog, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        segment, data = make_segment(1, 1, [b"a" * 1000, b"b" * 700, b"c" * 300])
        wal.append(segment, data)
        requests = Requests(monkeypatch)
        middle = segment.entries[1]
        assert wal.read_entry(middle.locator) == b"b" * 700
        assert requests.ranges() == [f"bytes={middle.offset}-{middle.offset + 699}"]

    def test_a_small_index_is_one_read_a_large_one_two(
        self, wal: WriteAheadLog, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        small, small_data = make_segment(1, 1, [b"x" * 100] * 3)
        large, large_data = make_segment(1, 4, [b"y"] * 600)  # ~600 index records: beyond 64 KiB
        assert large.info.index_end > INDEX_READ > small.info.index_end
        wal.append(small, small_data)
        wal.append(large, large_data)
        requests = Requests(monkeypatch)
        assert wal.read_index(small.name) == small
        assert requests.ranges() == [f"bytes=0-{INDEX_READ - 1}"]
        assert wal.read_index(large.name) == large
        assert requests.ranges()[1:] == [
            f"bytes=0-{INDEX_READ - 1}",
            f"bytes={INDEX_READ}-{large.info.index_end - 1}",
        ]

    def test_a_silent_partition_times_out_as_service_unavailable(
        self, wal: WriteAheadLog, blob_proxy: TcpProxy
    ) -> None:
        segment, data = make_segment(1, 1, [b"x"])
        wal.append(segment, data)
        blob_proxy.cut("hold")
        try:
            with pytest.raises(ServiceUnavailable):
                wal.read_entry(segment.entries[0].locator)
        finally:
            blob_proxy.restore()
        assert wal.read_entry(segment.entries[0].locator) == b"x"

    def test_a_cut_during_an_upload_leaves_the_whole_segment_or_nothing(
        self, wal: WriteAheadLog, blob_proxy: TcpProxy
    ) -> None:
        bodies = [bytes(range(256)) * (4 * 1024)] * 8  # 8 MiB, so the cut usually lands mid-request
        segment, data = make_segment(1, 2, bodies)
        wal.append(*make_segment(1, 1, [b"before"]))  # the container exists already
        cutter = threading.Timer(0.02, blob_proxy.cut)
        cutter.start()
        try:
            wal.append(segment, data)
        except ServiceUnavailable:
            pass  # the usual outcome; the server may still have committed the blob
        finally:
            cutter.join()
            blob_proxy.restore()
        # Never a blob without its metadata: list() would raise UnreadableWalEntry on one.
        assert [info.first_sequence for info in wal.list()] in ([1], [1, 2])
        wal.append(segment, data)  # the caller's retry succeeds either way
        assert wal.read_segment(segment.name) == (segment, data)

    def test_a_limited_list_asks_the_server_for_one_small_page(
        self, wal: WriteAheadLog, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The health probe's ``list(limit=1)`` must not read the server's default 5,000-entry page."""
        segments = [make_segment(1, n, [b"x"])[0] for n in range(1, 7)]
        for segment in segments:
            wal.append(*make_segment(1, segment.info.first_sequence, [b"x"]))
        requests = Requests(monkeypatch)
        assert list(wal.list(limit=1)) == [segments[0].info]
        assert list(wal.list(after=segments[1].name, limit=2)) == [s.info for s in segments[2:4]]
        listings = [query for _, query, _ in requests.sent if "comp=list" in query]
        assert listings and all("maxresults=" in q for q in listings), listings
        assert max(int(q.split("maxresults=")[1].split("&")[0]) for q in listings) == 2

    def test_a_blob_without_segment_metadata_is_reported_not_skipped(self, wal: WriteAheadLog) -> None:
        assert isinstance(wal, BlobWriteAheadLog)
        good, data = make_segment(1, 1, [b"x"])
        wal.append(good, data)
        stray = "0000000001/000000000002-DC04-stray"
        wal._container.client().upload_blob(stray, b"written by hand")
        with pytest.raises(UnreadableWalEntry) as raised:
            list(wal.list())
        assert raised.value.name == stray
        assert names(wal, after=stray) == []
        with pytest.raises(UnreadableWalEntry):
            wal.read_index(stray)

    def test_the_same_bytes_are_recognised_without_downloading_them(
        self, wal: WriteAheadLog, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        segment, data = make_segment(1, 1, [b"z" * 50_000])
        wal.append(segment, data)
        requests = Requests(monkeypatch)
        wal.append(segment, data)
        assert [method for method, _, _ in requests.sent] == ["PUT", "HEAD"]  # no GET of the blob


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
    def raw(self, wal: WriteAheadLog) -> RawWrite:
        assert isinstance(wal, DualRegionWriteAheadLog)

        def write(segment: WalSegment, data: bytes) -> None:
            for twin in (wal.own, wal.peer):
                assert isinstance(twin, InMemoryWriteAheadLog)
                twin.put_raw(segment.name, segment.info, data)

        return write


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

    @pytest.fixture
    def raw(self, wal: WriteAheadLog) -> RawWrite:
        assert isinstance(wal, DualRegionWriteAheadLog)
        writers = [_raw_blob(wal.own), _raw_blob(wal.peer)]

        def write(segment: WalSegment, data: bytes) -> None:
            for writer in writers:
                writer(segment, data)

        return write

    def test_peer_away_degraded_write_then_reconcile(self, wal: WriteAheadLog, dc06_proxy: TcpProxy) -> None:
        assert isinstance(wal, DualRegionWriteAheadLog)
        both, both_data = make_segment(1, 1, [b"both"])
        wal.append(both, both_data)
        lone, lone_data = make_segment(1, 2, [b"DC04", b"only"])
        dc06_proxy.cut()
        try:
            outcome = wal.append_reporting(lone, lone_data)
        finally:
            dc06_proxy.restore()
        assert outcome.regions == ("DC04",)
        assert wal.degraded_writes == 1
        assert names(wal.peer) == [both.name]
        assert wal.reconcile() == {"DC04": 0, "DC06": 1}
        assert wal.peer.read_segment(lone.name) == (lone, lone_data)

    def test_local_away_reads_and_lists_the_peer_copy(self, wal: WriteAheadLog, blob_proxy: TcpProxy) -> None:
        assert isinstance(wal, DualRegionWriteAheadLog)
        built = [make_segment(1, n, [b"x%d" % n, b"y%d" % n]) for n in (1, 3, 5)]
        for segment, data in built:
            wal.append(segment, data)
        third = built[2][0]
        blob_proxy.cut()
        try:
            assert list(wal.list(after=built[0][0].name)) == [built[1][0].info, third.info]
            assert wal.read_entry(third.entries[1].locator) == b"y5"
            assert wal.read_index(third.name) == third
        finally:
            blob_proxy.restore()
        assert wal.fallback_reads == 3
