"""StatementPublisher contract: one suite, run against the in-memory twin and the Service Bus adapter.

The adapter runs against the local Service Bus endpoint (``python -m dev.servicebus``, started here on
a free port) through a TCP proxy that can cut the road; what was published is read back with the
unmodified SDK and :func:`shared.inbound.to_inbound`, exactly as the local host's consumer reads it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from azure.identity import DefaultAzureCredential
from azure.servicebus import NEXT_AVAILABLE_SESSION
from azure.servicebus.exceptions import OperationTimeoutError

from dev.proxy import TcpProxy
from dev.servicebus.config import QueueConfig
from dev.servicebus.process import EndpointProcess
from shared.adapters.servicebus import (
    MessageTooLarge,
    PublishRejected,
    ServiceBusStatementPublisher,
    build_client,
)
from shared.errors import PermanentError, ServiceUnavailable
from shared.inbound import to_inbound
from shared.model import InboundStatement, OutboundStatement, WalLocator
from shared.ports import StatementPublisher
from shared.settings import Connection
from tests.twins import InMemoryPublisher

CLAIM_CHECK_BYTES = 1024
Outage = tuple[Callable[[], None], Callable[[], None]]
Received = Callable[[], list[InboundStatement]]


def statement(n: int, session: str, body: bytes | None = None, run: str = "") -> OutboundStatement:
    return OutboundStatement(
        message_id=f"{run}{n:04d}",
        session_id=session,
        body=body if body is not None else f"<Document n='{n}'/>".encode(),
        wal=WalLocator(f"0000000002/{n:012d}-DC04-{run}{n:04d}", 24 + 700 * n, 700 + n, f"{n:064x}"),
        epoch=2,
        sequence=n,
        region="DC04",
    )


class PublisherContract:
    """What every StatementPublisher guarantees. Subclasses provide the three fixtures."""

    @pytest.fixture
    def publisher(self) -> StatementPublisher:
        raise NotImplementedError

    @pytest.fixture
    def received(self, publisher: StatementPublisher) -> Received:
        """Everything published so far, as the consumer receives it (each call returns new ones only)."""
        raise NotImplementedError

    @pytest.fixture
    def outage(self, publisher: StatementPublisher) -> Outage:
        raise NotImplementedError

    @pytest.fixture
    def run(self) -> str:
        return uuid.uuid4().hex[:12]

    def test_publish_then_receive_with_the_same_values(
        self, publisher: StatementPublisher, received: Received, run: str
    ) -> None:
        sent = [
            statement(1, "CH93-A", run=run),
            statement(2, "CH93-B", run=run),
            statement(3, "CH93-A", run=run),
        ]
        publisher.publish(sent)
        got = {s.message_id: s for s in received()}
        assert set(got) == {s.message_id for s in sent}
        for out in sent:
            inbound = got[out.message_id]
            assert (inbound.session_id, inbound.body, inbound.wal) == (out.session_id, out.body, out.wal)
            assert (inbound.epoch, inbound.sequence, inbound.region) == (2, out.sequence, "DC04")
            assert inbound.claim_check is False
            assert inbound.delivery_count == 1

    def test_order_is_kept_per_session_in_a_large_publish(
        self, publisher: StatementPublisher, received: Received, run: str
    ) -> None:
        sessions = ["S1", "S2", "S3"]
        sent = [statement(n, sessions[n % 3], body=b"x" * 900, run=run) for n in range(150)]
        publisher.publish(sent)
        got = received()
        for session in sessions:
            expected = [s.message_id for s in sent if s.session_id == session]
            assert [s.message_id for s in got if s.session_id == session] == expected

    def test_a_repeated_message_id_is_dropped(
        self, publisher: StatementPublisher, received: Received, run: str
    ) -> None:
        publisher.publish([statement(1, "CH93-A", body=b"first", run=run)])
        publisher.publish([statement(1, "CH93-A", body=b"retry", run=run), statement(2, "CH93-A", run=run)])
        got = received()
        assert [(s.message_id, s.body) for s in got if s.sequence == 1] == [(f"{run}0001", b"first")]
        assert [s.sequence for s in got] == [1, 2]

    def test_a_body_above_the_threshold_travels_by_claim_check(
        self, publisher: StatementPublisher, received: Received, run: str
    ) -> None:
        at_limit = statement(1, "CH93-A", body=b"a" * CLAIM_CHECK_BYTES, run=run)
        above = statement(2, "CH93-A", body=b"b" * (CLAIM_CHECK_BYTES + 1), run=run)
        huge = statement(3, "CH93-A", body=b"c" * 2_000_000, run=run)  # far beyond the 256 KB limit
        publisher.publish([at_limit, above, huge])
        got = {s.sequence: s for s in received()}
        assert (got[1].body, got[1].claim_check) == (at_limit.body, False)
        assert (got[2].body, got[2].claim_check, got[2].wal) == (None, True, above.wal)
        assert (got[3].body, got[3].claim_check) == (None, True)

    def test_server_going_away_is_service_unavailable_and_nothing_is_half_sent(
        self, publisher: StatementPublisher, received: Received, outage: Outage, run: str
    ) -> None:
        publisher.publish([statement(1, "CH93-A", run=run)])
        cut, restore = outage
        cut()
        try:
            with pytest.raises(ServiceUnavailable):
                publisher.publish([statement(2, "CH93-A", run=run), statement(3, "CH93-B", run=run)])
        finally:
            restore()
        publisher.publish([statement(4, "CH93-A", run=run)])  # the publisher reconnects by itself
        assert sorted(s.sequence for s in received()) == [1, 4]

    def test_the_probe_answers_and_fails_during_an_outage(
        self, publisher: StatementPublisher, received: Received, outage: Outage, run: str
    ) -> None:
        assert publisher.probe()
        cut, restore = outage
        cut()
        try:
            with pytest.raises(ServiceUnavailable):
                publisher.probe()
        finally:
            restore()
        assert publisher.probe()
        assert received() == []  # a probe sends nothing


class TestInMemoryPublisher(PublisherContract):
    @pytest.fixture
    def publisher(self) -> StatementPublisher:
        return InMemoryPublisher(claim_check_bytes=CLAIM_CHECK_BYTES)

    @pytest.fixture
    def received(self, publisher: StatementPublisher) -> Received:
        assert isinstance(publisher, InMemoryPublisher)
        return publisher.received

    @pytest.fixture
    def outage(self, publisher: StatementPublisher) -> Outage:
        assert isinstance(publisher, InMemoryPublisher)

        def switch(on: bool) -> None:
            publisher.available = on

        return (lambda: switch(False), lambda: switch(True))


@pytest.fixture(scope="module")
def endpoint() -> Iterator[EndpointProcess]:
    queue = QueueConfig("contract", requires_session=True, lock_duration_s=5, dup_window_s=60)
    with EndpointProcess([queue]) as process:
        yield process


@pytest.fixture(scope="module")
def proxy(endpoint: EndpointProcess) -> Iterator[TcpProxy]:
    with TcpProxy(0, ("127.0.0.1", endpoint.port)) as running:
        yield running


def _depth(endpoint: EndpointProcess) -> int:
    return int(endpoint.stats()["queues"]["contract"]["total"])  # type: ignore[index]


def _drain(endpoint: EndpointProcess) -> list[InboundStatement]:
    """Receive and complete every message of every session (the queue is empty afterwards)."""
    got: list[InboundStatement] = []
    connection = Connection("contract", connection_string=endpoint.connection_string)
    with build_client(connection, retry_total=0) as client:
        while _depth(endpoint) > 0:  # the endpoint's own count: no need to wait out a receive timeout
            try:
                receiver = client.get_queue_receiver(
                    "contract", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=1
                )
                receiver.__enter__()
            except OperationTimeoutError:
                continue
            with receiver:
                while batch := receiver.receive_messages(max_message_count=100, max_wait_time=0.5):
                    for message in batch:
                        got.append(to_inbound(message))
                        receiver.complete_message(message)
    return got


@pytest.mark.integration
class TestServiceBusPublisher(PublisherContract):
    @pytest.fixture
    def publisher(self, endpoint: EndpointProcess, proxy: TcpProxy) -> Iterator[StatementPublisher]:
        via_proxy = endpoint.connection_string.replace(f":{endpoint.port};", f":{proxy.port};")
        adapter = ServiceBusStatementPublisher(
            Connection("ServiceBusConnection", connection_string=via_proxy),
            "contract",
            claim_check_bytes=CLAIM_CHECK_BYTES,
            timeout_s=5,
        )
        yield adapter
        adapter.close()

    @pytest.fixture
    def received(self, publisher: StatementPublisher, endpoint: EndpointProcess, run: str) -> Received:
        # This test's messages only: a failed test may leave others behind (drained here too).
        return lambda: [s for s in _drain(endpoint) if s.message_id.startswith(run)]

    @pytest.fixture
    def outage(self, publisher: StatementPublisher, proxy: TcpProxy) -> Outage:
        return (proxy.cut, proxy.restore)

    def test_order_is_kept_per_session_in_a_large_publish(
        self, publisher: StatementPublisher, received: Received, run: str
    ) -> None:
        super().test_order_is_kept_per_session_in_a_large_publish(publisher, received, run)
        assert isinstance(publisher, ServiceBusStatementPublisher)
        assert publisher.batches_sent == 1  # 3 sessions x 50 messages x 900 B share one 256 KB batch

    def test_sessions_share_batches_and_keep_their_order_across_batches(
        self, publisher: StatementPublisher, received: Received, run: str
    ) -> None:
        sessions = ["S1", "S2", "S3"]
        sent = [statement(n, sessions[n * n % 3], body=b"y" * 900, run=run) for n in range(400)]
        publisher.publish(sent)
        assert isinstance(publisher, ServiceBusStatementPublisher)
        assert publisher.batches_sent == 2  # 400 x 900 B: over one 256 KB batch, sessions interleaved
        got = received()
        assert sorted(s.message_id for s in got) == sorted(s.message_id for s in sent)
        for session in sessions:
            expected = [s.message_id for s in sent if s.session_id == session]
            assert [s.message_id for s in got if s.session_id == session] == expected

    def test_full_batches_with_long_ids_stay_within_the_link_limit(
        self, publisher: StatementPublisher, received: Received, run: str
    ) -> None:
        """The SDK leaves the envelope's copy of the first message's ids out of a batch's size; a
        batch filled to the limit then exceeds it. Bodies of 20 sizes land some batches within a few
        hundred bytes of the limit: every publish must go through, whole."""
        session = "S" * 128  # the longest session id Service Bus accepts
        for size in range(900, 1020, 6):
            batch = [
                statement(n, session, body=b"z" * size, run=f"{run}{size:04d}-".ljust(120, "m"))
                for n in range(250)  # 250 x ~1.2 KB: over one batch of the local link's 256 KB
            ]
            publisher.publish(batch)
            assert len(received()) == len(batch), size


def test_a_silent_network_fails_within_the_timeout_instead_of_hanging(
    endpoint: EndpointProcess, proxy: TcpProxy
) -> None:
    via_proxy = endpoint.connection_string.replace(f":{endpoint.port};", f":{proxy.port};")
    adapter = ServiceBusStatementPublisher(
        Connection("ServiceBusConnection", connection_string=via_proxy), "contract", timeout_s=2
    )
    run = uuid.uuid4().hex[:8]
    adapter.publish([statement(1, "H", run=run)])
    proxy.cut("hold")  # a partition: bytes vanish, nothing is refused
    try:
        with pytest.raises(ServiceUnavailable, match="timed out"):
            adapter.publish([statement(2, "H", run=run)])
    finally:
        proxy.restore()
    adapter.publish([statement(3, "H", run=run)])
    adapter.close()
    assert sorted(s.sequence for s in _drain(endpoint)) == [1, 3]


def test_a_message_too_large_even_for_the_claim_check_is_a_permanent_error(endpoint: EndpointProcess) -> None:
    # Misconfigured: a claim-check threshold above the entity's 256 KB limit.
    adapter = ServiceBusStatementPublisher(
        Connection("ServiceBusConnection", connection_string=endpoint.connection_string),
        "contract",
        claim_check_bytes=10_000_000,
    )
    with pytest.raises(MessageTooLarge) as caught:
        adapter.publish([statement(1, "L", body=b"y" * 300_000)])
    adapter.close()
    assert isinstance(caught.value, PermanentError) and caught.value.reason == "message-too-large"
    assert _depth(endpoint) == 0


def test_in_azure_the_client_uses_the_namespace_and_a_managed_identity() -> None:
    # ServiceBusConnection__fullyQualifiedNamespace: no connection string, DefaultAzureCredential.
    # Building the client opens nothing, so this runs without Azure.
    connection = Connection("ServiceBusConnection", endpoint="sb-bridge.servicebus.windows.net")
    with build_client(connection) as client:
        assert client.fully_qualified_namespace == "sb-bridge.servicebus.windows.net"
        assert isinstance(client._credential, DefaultAzureCredential)


def test_a_message_the_service_refuses_is_publish_rejected_and_a_missing_queue_unavailable(
    endpoint: EndpointProcess,
) -> None:
    connection = Connection("ServiceBusConnection", connection_string=endpoint.connection_string)
    adapter = ServiceBusStatementPublisher(connection, "contract")
    no_session = replace(statement(1, "S"), message_id="no-session", session_id="")  # a session queue
    with pytest.raises(PublishRejected) as caught:
        adapter.publish([no_session])
    assert isinstance(caught.value, PermanentError) and caught.value.condition == "amqp:not-allowed"
    adapter.close()
    missing = ServiceBusStatementPublisher(connection, "no-such-queue")
    with pytest.raises(ServiceUnavailable, match="MessagingEntityNotFoundError"):
        missing.probe()  # the Watchdog's probe sees a missing queue as the publisher would
    with pytest.raises(ServiceUnavailable, match="MessagingEntityNotFoundError"):
        missing.publish([statement(1, "S")])
    missing.close()
