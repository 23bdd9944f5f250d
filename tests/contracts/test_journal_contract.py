"""OperationsJournal contract: one suite, run against the in-memory twin and the Blob adapter on Azurite."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from dev.proxy import TcpProxy
from shared.adapters.blob_journal import BlobOperationsJournal
from shared.adapters.blob_wal import BlobOptions
from shared.errors import AlreadyExists, PreconditionFailed, ServiceUnavailable
from shared.journal import OperationsJournal
from shared.settings import Connection
from tests.twins.journal import InMemoryOperationsJournal

Outage = tuple[Callable[[], None], Callable[[], None]]


class JournalContract:
    """The contract every OperationsJournal keeps. Subclasses provide ``journal`` and ``outage``."""

    @pytest.fixture
    def journal(self) -> OperationsJournal:
        raise NotImplementedError

    @pytest.fixture
    def outage(self, journal: OperationsJournal) -> Outage:
        raise NotImplementedError

    def test_create_then_read(self, journal: OperationsJournal) -> None:
        etag = journal.create("requests/r1", {"state": "PENDING", "who": "Zürich ops"})
        assert journal.read("requests/r1") == ({"state": "PENDING", "who": "Zürich ops"}, etag)

    def test_create_is_create_only(self, journal: OperationsJournal) -> None:
        journal.create("requests/r1", {"n": 1})
        with pytest.raises(AlreadyExists):
            journal.create("requests/r1", {"n": 2})
        assert journal.read("requests/r1")[0] == {"n": 1}  # type: ignore[index]

    def test_replace_is_compare_and_set(self, journal: OperationsJournal) -> None:
        etag = journal.create("requests/r1", {"state": "PENDING"})
        newer = journal.replace("requests/r1", {"state": "APPROVED"}, etag)
        assert newer != etag
        with pytest.raises(PreconditionFailed):
            journal.replace("requests/r1", {"state": "APPROVED", "by": "second approver"}, etag)
        assert journal.read("requests/r1") == ({"state": "APPROVED"}, newer)

    def test_put_overwrites_and_read_of_a_missing_name_is_none(self, journal: OperationsJournal) -> None:
        journal.put("reports/latest.json", {"n": 1})
        journal.put("reports/latest.json", {"n": 2})
        assert journal.read("reports/latest.json")[0] == {"n": 2}  # type: ignore[index]
        assert journal.read("reports/never.json") is None

    def test_names_by_prefix_in_order(self, journal: OperationsJournal) -> None:
        for name in ("messages/b/2", "messages/a/1", "requests/x", "messages/b/1"):
            journal.put(name, {})
        assert journal.names("messages/b/") == ["messages/b/1", "messages/b/2"]
        assert journal.names("nothing/") == []

    def test_server_going_away_is_service_unavailable(
        self, journal: OperationsJournal, outage: Outage
    ) -> None:
        journal.put("kept", {"kept": True})
        cut, restore = outage
        cut()
        try:
            with pytest.raises(ServiceUnavailable):
                journal.create("lost", {})
            with pytest.raises(ServiceUnavailable):
                journal.read("kept")
        finally:
            restore()
        assert journal.read("kept")[0] == {"kept": True}  # type: ignore[index]


class TestInMemoryJournal(JournalContract):
    @pytest.fixture
    def journal(self) -> OperationsJournal:
        return InMemoryOperationsJournal()

    @pytest.fixture
    def outage(self, journal: OperationsJournal) -> Outage:
        assert isinstance(journal, InMemoryOperationsJournal)

        def switch(on: bool) -> None:
            journal.available = on

        return (lambda: switch(False), lambda: switch(True))


@pytest.fixture
def blob_proxy(stack: dict[str, str]) -> Iterator[TcpProxy]:
    proxy = TcpProxy(0, ("127.0.0.1", int(stack["STACK_BLOB_PORT_DC04"])))
    proxy.start()
    yield proxy
    proxy.stop()


class TestBlobJournal(JournalContract):
    @pytest.fixture
    def journal(self, stack: dict[str, str], blob_proxy: TcpProxy) -> OperationsJournal:
        port = stack["STACK_BLOB_PORT_DC04"]
        conn = stack["STACK_BLOB_DC04"].replace(f"127.0.0.1:{port}", f"127.0.0.1:{blob_proxy.port}")
        options = BlobOptions(
            connection_timeout_s=1.0, read_timeout_s=1.0, retry_total=1, retry_backoff_s=0.05
        )
        return BlobOperationsJournal(
            Connection("WalStorageDC04", conn), f"operations-{uuid.uuid4().hex[:12]}", options
        )

    @pytest.fixture
    def outage(self, blob_proxy: TcpProxy) -> Outage:
        return (blob_proxy.cut, blob_proxy.restore)
