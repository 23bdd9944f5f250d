"""BodyStore contract: one suite, run against the in-memory twin and the Blob adapter on Azurite."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from dev.proxy import TcpProxy
from shared.adapters.blob_bodies import BlobBodyStore
from shared.adapters.blob_wal import BlobOptions
from shared.errors import NotFound, ServiceUnavailable
from shared.ports import BodyStore
from shared.settings import Connection
from tests.twins import InMemoryBodyStore

Outage = tuple[Callable[[], None], Callable[[], None]]


class BodyStoreContract:
    """The contract every BodyStore keeps. Subclasses provide ``bodies`` and ``outage``."""

    @pytest.fixture
    def bodies(self) -> BodyStore:
        raise NotImplementedError

    @pytest.fixture
    def outage(self, bodies: BodyStore) -> Outage:
        raise NotImplementedError

    def test_put_then_get(self, bodies: BodyStore) -> None:
        body = b"<Document>\x00\xff binary is fine</Document>"
        bodies.put("quarantine/abc123.xml", body, {"reason": "unsafe-xml", "account": "Zürich 1"})
        assert bodies.get("quarantine/abc123.xml") == body

    def test_put_overwrites(self, bodies: BodyStore) -> None:
        bodies.put("abc123.mt950", b"first", {})
        bodies.put("abc123.mt950", b"second", {"attempt": "2"})
        assert bodies.get("abc123.mt950") == b"second"

    def test_empty_body(self, bodies: BodyStore) -> None:
        bodies.put("empty", b"", {})
        assert bodies.get("empty") == b""

    def test_get_of_a_missing_name_is_not_found(self, bodies: BodyStore) -> None:
        with pytest.raises(NotFound):
            bodies.get("never-written")

    def test_server_going_away_is_service_unavailable(self, bodies: BodyStore, outage: Outage) -> None:
        bodies.put("kept", b"kept", {})
        cut, restore = outage
        cut()
        try:
            with pytest.raises(ServiceUnavailable):
                bodies.put("lost", b"lost", {})
            with pytest.raises(ServiceUnavailable):
                bodies.get("kept")
        finally:
            restore()
        assert bodies.get("kept") == b"kept"


class TestInMemoryBodyStore(BodyStoreContract):
    @pytest.fixture
    def bodies(self) -> BodyStore:
        return InMemoryBodyStore()

    @pytest.fixture
    def outage(self, bodies: BodyStore) -> Outage:
        assert isinstance(bodies, InMemoryBodyStore)

        def switch(on: bool) -> None:
            bodies.available = on

        return (lambda: switch(False), lambda: switch(True))


@pytest.fixture
def blob_proxy(stack: dict[str, str]) -> Iterator[TcpProxy]:
    proxy = TcpProxy(0, ("127.0.0.1", int(stack["STACK_BLOB_PORT_DC06"])))
    proxy.start()
    yield proxy
    proxy.stop()


class TestBlobBodyStore(BodyStoreContract):
    @pytest.fixture
    def bodies(self, stack: dict[str, str], blob_proxy: TcpProxy) -> BodyStore:
        port = stack["STACK_BLOB_PORT_DC06"]
        conn = stack["STACK_BLOB_DC06"].replace(f"127.0.0.1:{port}", f"127.0.0.1:{blob_proxy.port}")
        options = BlobOptions(
            connection_timeout_s=1.0, read_timeout_s=1.0, retry_total=1, retry_backoff_s=0.05
        )
        return BlobBodyStore(
            Connection("WalStorageDC06", conn), f"quarantine-{uuid.uuid4().hex[:12]}", options
        )

    @pytest.fixture
    def outage(self, blob_proxy: TcpProxy) -> Outage:
        return (blob_proxy.cut, blob_proxy.restore)

    def test_metadata_is_stored_ascii_encoded(self, bodies: BodyStore) -> None:
        assert isinstance(bodies, BlobBodyStore)
        bodies.put("q1", b"x", {"reason": "unsafe-xml", "account": "Zürich 1"})
        stored = bodies._container.client().get_blob_client("q1").get_blob_properties().metadata
        assert stored == {"reason": "unsafe-xml", "account": "Z%C3%BCrich%201"}
