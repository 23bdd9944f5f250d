"""IdempotencyStore contract: one suite, run against the in-memory twin and Cosmos (local SQL API server).

The Cosmos adapter reaches the stack's server through :class:`dev.proxy.TcpProxy`; each test uses
its own container. The server must be the patched one (a missing id answers 404, not 500).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.cosmos import CosmosClient

from dev.proxy import TcpProxy
from shared.adapters.azure_errors import RequestRejected, translate
from shared.adapters.cosmos_store import CosmosIdempotencyStore, CosmosOptions, UnreadableRecord
from shared.errors import AlreadyExists, NotFound, PreconditionFailed, ServiceUnavailable, StaleEpoch
from shared.model import ClaimRecord, RecordState, delivery_key_for
from shared.ports import IdempotencyStore
from shared.settings import Connection
from tests.twins import InMemoryIdempotencyStore

NOW = datetime.now(UTC).replace(microsecond=0)


def claim(store: IdempotencyStore, message_id: str, lease_until: datetime | None = None) -> ClaimRecord:
    return store.claim(
        message_id=message_id,
        session_id="CH9300762011623852957",
        region="DC04",
        epoch=3,
        delivery_key=delivery_key_for(message_id),
        lease_until=lease_until or NOW + timedelta(minutes=5),
        wal_name=f"20261126/0000000003/000000000007-{message_id}",
        sequence=7,
    )


class IdempotencyContract:
    """The contract every IdempotencyStore keeps. Subclasses provide ``store`` and ``outage``."""

    @pytest.fixture
    def store(self) -> IdempotencyStore:
        raise NotImplementedError

    @pytest.fixture
    def outage(self, store: IdempotencyStore) -> tuple[Callable[[], None], Callable[[], None]]:
        raise NotImplementedError

    def test_claim_creates_a_pending_record(self, store: IdempotencyStore) -> None:
        record = claim(store, "a1")
        assert (record.message_id, record.session_id, record.state) == (
            "a1",
            "CH9300762011623852957",
            "PENDING",
        )
        assert (record.region, record.epoch, record.sequence, record.attempts) == ("DC04", 3, 7, 1)
        assert record.delivery_key == delivery_key_for("a1")
        assert record.lease_until == NOW + timedelta(minutes=5)
        assert record.wal_name == "20261126/0000000003/000000000007-a1"
        assert record.reason is None
        assert record.etag
        assert store.get("a1") == record

    def test_counts_say_what_the_records_say(self, store: IdempotencyStore) -> None:
        since = datetime.now(UTC) - timedelta(minutes=1)
        empty = {"delivered": 0, "failed": 0, "pending": 0, "in_doubt": 0, "lease_expired": 0}
        assert store.counts(since, NOW) == empty
        store.mark_delivered(claim(store, "d1"), {})
        store.mark_delivered(claim(store, "d2"), {})
        store.mark_failed(claim(store, "f1"), "unbalanced", {})
        claim(store, "p1")  # pending, its lease runs
        expired = claim(store, "p2", lease_until=NOW - timedelta(seconds=1))
        taken = store.take_over(expired, region="DC06", epoch=4, lease_until=NOW - timedelta(seconds=1))
        store.mark_delivered(store.take_over(taken, region="DC06", epoch=4, lease_until=NOW), {})
        claim(store, "p3", lease_until=NOW - timedelta(seconds=1))  # in doubt now: its worker is gone
        expected = {"delivered": 3, "failed": 1, "pending": 2, "in_doubt": 1, "lease_expired": 1}
        assert store.counts(since, NOW) == expected
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert store.counts(later, NOW) == {**empty, "lease_expired": 1}  # expired leases, whatever their age

    def test_recent_failures_and_old_claims_are_bounded_ordered_listings(
        self, store: IdempotencyStore
    ) -> None:
        def step() -> datetime:  # distinct update times, in the order of the writes
            time.sleep(0.005)
            return datetime.now(UTC)

        start = step()
        for message_id in ("f1", "f2", "f3"):
            store.mark_failed(claim(store, message_id), "unbalanced", {"pages": "0"})
            step()
        store.mark_delivered(claim(store, "d1"), {})
        claim(store, "p1")
        step()
        claim(store, "p2")
        cut = step()
        claim(store, "p3")  # claimed after the cut: not old enough to be in doubt
        assert [r.message_id for r in store.failed_since(start, 10)] == ["f3", "f2", "f1"]
        assert [r.message_id for r in store.failed_since(start, 2)] == ["f3", "f2"]
        assert store.failed_since(cut, 10) == []
        assert store.failed_since(start, 1) == [store.get("f3")]
        assert store.failed_since(start, 1)[0].reason == "unbalanced"
        assert [r.message_id for r in store.claimed_before(cut, 10)] == ["p1", "p2"]
        assert [r.message_id for r in store.claimed_before(cut, 1)] == ["p1"]
        assert store.claimed_before(start, 10) == []

    def test_claim_keeps_the_body_hash_through_every_change(self, store: IdempotencyStore) -> None:
        digest = "0123456789abcdef" * 4
        record = store.claim(
            message_id="h1",
            session_id="CH9300762011623852957",
            region="DC04",
            epoch=3,
            delivery_key=delivery_key_for("h1"),
            lease_until=NOW + timedelta(minutes=5),
            wal_name="20261126/0000000003/000000000008-h1",
            sequence=8,
            body_sha256=digest,
        )
        assert record.body_sha256 == digest
        delivered = store.mark_delivered(record, {"pages": "1"})
        assert delivered.body_sha256 == digest
        assert store.get("h1") == delivered and store.lookup(["h1"])["h1"] == delivered
        assert claim(store, "h2").body_sha256 == ""  # a claim without a hash keeps none

    def test_get_of_an_unknown_id_is_none(self, store: IdempotencyStore) -> None:
        assert store.get("never-claimed") is None

    def test_second_claim_is_already_exists(self, store: IdempotencyStore) -> None:
        first = claim(store, "a1")
        with pytest.raises(AlreadyExists):
            claim(store, "a1")
        assert store.get("a1") == first

    def test_racing_claims_have_exactly_one_winner(self, store: IdempotencyStore) -> None:
        racers = 8
        start = threading.Barrier(racers)
        won: list[ClaimRecord] = []
        lost: list[BaseException] = []

        def race() -> None:
            start.wait()
            try:
                won.append(claim(store, "contested"))
            except AlreadyExists as error:
                lost.append(error)

        threads = [threading.Thread(target=race) for _ in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1
        assert len(lost) == racers - 1
        assert store.get("contested") == won[0]

    def test_take_over_of_an_expired_pending_record(self, store: IdempotencyStore) -> None:
        expired = claim(store, "a1", lease_until=NOW - timedelta(seconds=1))
        assert expired.lease_expired(NOW)
        new_lease = NOW + timedelta(minutes=5)
        taken = store.take_over(expired, region="DC06", epoch=4, lease_until=new_lease)
        assert (taken.state, taken.region, taken.epoch, taken.attempts) == ("PENDING", "DC06", 4, 2)
        assert taken.lease_until == new_lease
        assert (taken.delivery_key, taken.wal_name, taken.sequence) == (
            expired.delivery_key,
            expired.wal_name,
            expired.sequence,
        )
        assert taken.etag != expired.etag
        assert store.get("a1") == taken

    def test_stale_etag_is_precondition_failed(self, store: IdempotencyStore) -> None:
        stale = claim(store, "a1", lease_until=NOW - timedelta(seconds=1))
        current = store.take_over(stale, region="DC06", epoch=4, lease_until=NOW + timedelta(minutes=5))
        with pytest.raises(PreconditionFailed):
            store.take_over(stale, region="DC04", epoch=4, lease_until=NOW + timedelta(minutes=5))
        with pytest.raises(PreconditionFailed):
            store.mark_delivered(stale, {"target": "folder"})
        with pytest.raises(PreconditionFailed):
            store.mark_failed(stale, "unsafe-xml", {})
        assert store.get("a1") == current

    def test_take_over_by_a_lower_epoch_is_stale_epoch_and_writes_nothing(
        self, store: IdempotencyStore
    ) -> None:
        record = claim(store, "a1", lease_until=NOW - timedelta(seconds=1))  # epoch 3, expired
        with pytest.raises(StaleEpoch) as stale:
            store.take_over(record, region="DC06", epoch=2, lease_until=NOW + timedelta(minutes=1))
        assert (stale.value.epoch, stale.value.current) == (2, 3)
        assert store.get("a1") == record
        same = store.take_over(record, region="DC06", epoch=3, lease_until=NOW + timedelta(minutes=1))
        assert (same.epoch, same.region, same.attempts) == (3, "DC06", 2)

    def test_marks_by_an_epoch_taken_over_by_a_newer_one_are_refused(self, store: IdempotencyStore) -> None:
        old = claim(store, "a1", lease_until=NOW - timedelta(seconds=1))  # DC04, epoch 3
        newer = store.take_over(old, region="DC06", epoch=4, lease_until=NOW + timedelta(minutes=1))
        with pytest.raises(PreconditionFailed):
            store.mark_delivered(old, {"pages": "1"})
        with pytest.raises(PreconditionFailed):
            store.mark_failed(old, "unsafe-xml", {})
        with pytest.raises(StaleEpoch):
            store.take_over(newer, region="DC04", epoch=3, lease_until=NOW + timedelta(minutes=2))
        assert store.get("a1") == newer

    def test_mark_delivered_is_final_and_keeps_details(self, store: IdempotencyStore) -> None:
        record = claim(store, "a1")
        delivered = store.mark_delivered(record, {"target": "folder", "file": "k.mt950"})
        assert delivered.state is RecordState.DELIVERED
        assert delivered.state.final
        assert delivered.details == {"target": "folder", "file": "k.mt950"}
        assert store.get("a1") == delivered
        with pytest.raises(PreconditionFailed):
            store.mark_delivered(record, {})

    def test_mark_failed_keeps_the_reason(self, store: IdempotencyStore) -> None:
        record = claim(store, "a1")
        failed = store.mark_failed(record, "wrong-message-type", {"rule": "camt.053 expected"})
        assert (failed.state, failed.reason) == (RecordState.FAILED, "wrong-message-type")
        assert failed.details == {"rule": "camt.053 expected"}
        stored = store.get("a1")
        assert stored is not None
        assert (stored.state, stored.reason, stored.details) == (
            RecordState.FAILED,
            "wrong-message-type",
            {"rule": "camt.053 expected"},
        )

    def test_update_of_a_record_that_does_not_exist_is_not_found(self, store: IdempotencyStore) -> None:
        ghost = ClaimRecord(
            message_id="ghost",
            session_id="s",
            state=RecordState.PENDING,
            region="DC04",
            epoch=1,
            delivery_key=delivery_key_for("ghost"),
            lease_until=NOW,
            etag='"00000001"',
        )
        with pytest.raises(NotFound):
            store.mark_delivered(ghost, {})

    def test_lookup_of_many_ids_some_missing(self, store: IdempotencyStore) -> None:
        claimed = [f"m{n:04d}" for n in range(0, 260, 2)]  # 130 records: more than one query chunk
        for message_id in claimed:
            claim(store, message_id)
        delivered = store.mark_delivered(store.get("m0002") or claim(store, "m0002"), {})
        asked = [f"m{n:04d}" for n in range(260)] + ["m0000", "unknown"]
        found = store.lookup(asked)
        assert sorted(found) == claimed
        assert found["m0002"] == delivered
        assert found["m0100"].state is RecordState.PENDING
        assert store.lookup([]) == {}
        # One id: the ReadMany of the Cosmos adapter is a point read then (404 = absent, not an error).
        assert store.lookup(["unknown"]) == {} and store.lookup(["m0002"]) == {"m0002": delivered}

    def test_server_going_away_is_service_unavailable(
        self, store: IdempotencyStore, outage: tuple[Callable[[], None], Callable[[], None]]
    ) -> None:
        record = claim(store, "a1")
        cut, restore = outage
        cut()
        try:
            with pytest.raises(ServiceUnavailable):
                claim(store, "a2")
            with pytest.raises(ServiceUnavailable):
                store.get("a1")
            with pytest.raises(ServiceUnavailable):
                store.lookup(["a1", "a2"])
            with pytest.raises(ServiceUnavailable):
                store.mark_delivered(record, {})
        finally:
            restore()
        assert store.get("a1") == record
        assert store.get("a2") is None


class TestInMemoryIdempotencyStore(IdempotencyContract):
    @pytest.fixture
    def store(self) -> IdempotencyStore:
        return InMemoryIdempotencyStore()

    @pytest.fixture
    def outage(self, store: IdempotencyStore) -> tuple[Callable[[], None], Callable[[], None]]:
        assert isinstance(store, InMemoryIdempotencyStore)

        def switch(on: bool) -> None:
            store.available = on

        return (lambda: switch(False), lambda: switch(True))


@pytest.fixture
def cosmos_proxy(stack: dict[str, str]) -> Iterator[TcpProxy]:
    proxy = TcpProxy(0, ("127.0.0.1", int(stack["STACK_COSMOS_PORT"])))
    proxy.start()
    yield proxy
    proxy.stop()


FAST = CosmosOptions(
    connection_timeout_s=1.0, read_timeout_s=1.0, timeout_s=3.0, retry_total=1, lookup_chunk=50
)


class TestCosmosIdempotencyStore(IdempotencyContract):
    @pytest.fixture
    def store(self, stack: dict[str, str], cosmos_proxy: TcpProxy) -> IdempotencyStore:
        port = stack["STACK_COSMOS_PORT"]
        conn = stack["STACK_COSMOS"].replace(f"127.0.0.1:{port}", f"127.0.0.1:{cosmos_proxy.port}")
        return CosmosIdempotencyStore(
            Connection("CosmosConnection", conn), "contract", f"records-{uuid.uuid4().hex[:12]}", FAST
        )

    @pytest.fixture
    def outage(self, cosmos_proxy: TcpProxy) -> tuple[Callable[[], None], Callable[[], None]]:
        return (cosmos_proxy.cut, cosmos_proxy.restore)

    def test_a_silent_partition_times_out_as_service_unavailable(
        self, store: IdempotencyStore, cosmos_proxy: TcpProxy
    ) -> None:
        record = claim(store, "a1")
        cosmos_proxy.cut("hold")
        try:
            with pytest.raises(ServiceUnavailable):
                store.get("a1")
        finally:
            cosmos_proxy.restore()
        assert store.get("a1") == record

    def test_a_server_error_is_never_read_as_missing(self, answers_500: str) -> None:
        # The unpatched local server answered 500 for a missing id; an adapter that took a 500 for
        # "no record" would claim again and deliver twice.
        client = CosmosClient(answers_500, credential=KEY, enable_endpoint_discovery=False, timeout=3)
        items = client.get_database_client("bridge").get_container_client("records")
        store = CosmosIdempotencyStore.on_container(items, FAST)
        with pytest.raises(ServiceUnavailable):
            store.get("a1")
        with pytest.raises(ServiceUnavailable):
            claim(store, "a1")


KEY = "bG9jYWwtY29zbW9zLWtleQ=="


class _Answer500(BaseHTTPRequestHandler):
    """Answers the account and container reads as the real server did, and 500 to everything else
    (the document reads and writes)."""

    known: ClassVar[dict[str, bytes]] = {}

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        known = self.known.get(self.path) if self.command == "GET" else None
        status, body = (500, _INTERNAL_ERROR) if known is None else (200, known)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: object) -> None:
        pass


_INTERNAL_ERROR = json.dumps({"code": "InternalServerError", "message": "Cannot read properties"}).encode()


@pytest.fixture
def answers_500(stack: dict[str, str]) -> Iterator[str]:
    real = f"http://127.0.0.1:{stack['STACK_COSMOS_PORT']}/"
    with urllib.request.urlopen(real, timeout=5) as response:
        account = response.read()
    real_store = CosmosIdempotencyStore(
        Connection("CosmosConnection", stack["STACK_COSMOS"]), "bridge", "records"
    )
    container = json.dumps(real_store._items().read()).encode()
    known = {"/": account, "/dbs/bridge/colls/records/": container}
    handler = type("Answer500", (_Answer500,), {"known": known})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_an_item_that_is_not_a_record_is_reported(stack: dict[str, str]) -> None:
    store = CosmosIdempotencyStore(
        Connection("CosmosConnection", stack["STACK_COSMOS"]), "contract", f"records-{uuid.uuid4().hex[:12]}"
    )
    store._items().create_item({"id": "stray", "note": "written by hand"})
    with pytest.raises(UnreadableRecord):
        store.get("stray")


def _http_error(status: int) -> HttpResponseError:
    error = HttpResponseError(message=f"HTTP {status}")
    error.status_code = status
    return error


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, NotFound),
        (409, AlreadyExists),
        (412, PreconditionFailed),
        (408, ServiceUnavailable),
        (429, ServiceUnavailable),
        (449, ServiceUnavailable),
        (500, ServiceUnavailable),
        (503, ServiceUnavailable),
        (401, ServiceUnavailable),
        (403, ServiceUnavailable),
        (400, RequestRejected),
        (413, RequestRejected),
    ],
)
def test_http_status_mapping(status: int, expected: type[Exception]) -> None:
    translated = translate(_http_error(status), service="cosmos", what=_WHAT_RECORD, key="a1")
    assert type(translated) is expected


def test_errors_without_an_answer_are_service_unavailable() -> None:
    for error in (ServiceRequestError("connection refused"), ServiceResponseError("reset"), TimeoutError()):
        assert isinstance(translate(error, service="blob", what="WAL blob", key="x"), ServiceUnavailable)


_WHAT_RECORD = "idempotency record"


def test_write_unavailability_is_its_own_error_on_cosmos_writes_only() -> None:
    from azure.core.exceptions import ServiceRequestTimeoutError  # noqa: PLC0415
    from azure.cosmos.exceptions import CosmosHttpResponseError  # noqa: PLC0415

    from shared.errors import WritesUnavailable  # noqa: PLC0415

    def write(error: Exception) -> Exception:
        return translate(error, service="cosmos", what="record", key="k", write=True)

    forbidden = CosmosHttpResponseError(status_code=403, message="write forbidden", sub_status=3)
    assert isinstance(write(_http_error(503)), WritesUnavailable)
    assert isinstance(write(forbidden), WritesUnavailable)
    assert isinstance(write(ServiceRequestError("connection refused")), WritesUnavailable)
    assert isinstance(write(ServiceResponseError("connection reset")), WritesUnavailable)
    other_403 = CosmosHttpResponseError(status_code=403, message="no role", sub_status=5301)
    for error in (_http_error(500), other_403, ServiceRequestTimeoutError("timed out")):
        mapped = write(error)  # a timeout's outcome is unknown; a plain 403 is authentication
        assert isinstance(mapped, ServiceUnavailable) and not isinstance(mapped, WritesUnavailable)
    read = translate(_http_error(503), service="cosmos", what="record", key="k")
    assert not isinstance(read, WritesUnavailable)


def test_the_twin_refuses_writes_but_answers_reads_while_its_write_region_is_lost() -> None:
    from shared.errors import WritesUnavailable  # noqa: PLC0415

    store = InMemoryIdempotencyStore()
    record = claim(store, "a1")
    store.writes_available = False
    with pytest.raises(WritesUnavailable):
        claim(store, "a2")
    with pytest.raises(WritesUnavailable):
        store.mark_delivered(record, {})
    assert store.get("a1") == record and store.lookup(["a1"]) == {"a1": record}
