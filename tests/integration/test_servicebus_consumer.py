"""ServiceBusSessionConsumer against the local endpoint: the Functions host's settlement rules, locally.

Published with the real publisher adapter, consumed with the real consumer, observed through the
handler's calls and the endpoint's own counters (``--stats-port``).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path

import pytest
from azure.functions.servicebus import ServiceBusMessage as FunctionsServiceBusMessage
from azure.servicebus import ServiceBusClient, ServiceBusMessage

from dev.adapters.servicebus_consumer import ServiceBusSessionConsumer
from dev.servicebus.config import QueueConfig
from dev.servicebus.process import EndpointProcess
from shared.adapters.servicebus import ServiceBusStatementPublisher
from shared.inbound import MalformedMessage, statement_properties, to_inbound
from shared.model import InboundStatement, OutboundStatement, WalLocator
from shared.settings import Connection

pytestmark = pytest.mark.integration

LOCK_S = 2.0


@pytest.fixture(scope="module")
def endpoint() -> Iterator[EndpointProcess]:
    queue = QueueConfig("work", lock_duration_s=LOCK_S, max_delivery_count=3, dup_window_s=60)
    with EndpointProcess([queue]) as process:
        yield process


@pytest.fixture
def connection(endpoint: EndpointProcess) -> Connection:
    return Connection("ServiceBusConnection", connection_string=endpoint.connection_string)


def _statements(run: str, sessions: list[str], per_session: int) -> list[OutboundStatement]:
    out = []
    for n in range(per_session):
        for session in sessions:
            out.append(
                OutboundStatement(
                    message_id=f"{run}-{session}-{n}",
                    session_id=session,
                    body=f"{session}:{n}".encode(),
                    wal=WalLocator(f"0000000001/{n:012d}-DC04-{run}{session}", 64, 10 + n, "ab" * 32),
                    epoch=1,
                    sequence=n,
                    region="DC04",
                )
            )
    return out


def _publish(connection: Connection, statements: list[OutboundStatement]) -> None:
    publisher = ServiceBusStatementPublisher(connection, "work")
    try:
        publisher.publish(statements)
    finally:
        publisher.close()


def _consume_until(
    connection: Connection,
    handler: Callable[[InboundStatement], None],
    done: Callable[[], bool],
    max_sessions: int = 2,
    timeout_s: float = 40.0,
) -> ServiceBusSessionConsumer:
    consumer = ServiceBusSessionConsumer(connection, "work", idle_s=1.0)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(handler, stop, max_sessions), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the consumer did not stop"
    return consumer


def _depth(endpoint: EndpointProcess) -> int:
    stats = endpoint.stats()["queues"]["work"]  # type: ignore[index]
    return int(stats["total"])


def test_each_session_is_handled_in_order_and_completed(
    connection: Connection, endpoint: EndpointProcess
) -> None:
    run = uuid.uuid4().hex[:8]
    sessions = [f"{run}-A", f"{run}-B", f"{run}-C"]
    _publish(connection, _statements(run, sessions, per_session=20))
    seen: list[InboundStatement] = []
    lock = threading.Lock()

    def handler(statement: InboundStatement) -> None:
        with lock:
            seen.append(statement)

    consumer = _consume_until(connection, handler, lambda: len(seen) >= 60)
    for session in sessions:
        assert [s.sequence for s in seen if s.session_id == session] == list(range(20))
    assert all(s.delivery_count == 1 and s.body == f"{s.session_id}:{s.sequence}".encode() for s in seen)
    assert consumer.completed == 60 and consumer.abandoned == 0
    assert _depth(endpoint) == 0


def test_an_exception_abandons_and_the_message_comes_back_first(
    connection: Connection, endpoint: EndpointProcess
) -> None:
    run = uuid.uuid4().hex[:8]
    session = f"{run}-A"
    _publish(connection, _statements(run, [session], per_session=3))
    calls: list[tuple[int, int]] = []

    def handler(statement: InboundStatement) -> None:
        calls.append((statement.sequence, statement.delivery_count))
        if statement.sequence == 1 and statement.delivery_count == 1:
            raise RuntimeError("transient: MessageWay is down")

    consumer = _consume_until(connection, handler, lambda: len(calls) >= 4)
    assert calls == [(0, 1), (1, 1), (1, 2), (2, 1)]
    assert (consumer.completed, consumer.abandoned) == (3, 1)
    assert _depth(endpoint) == 0


def test_a_poison_message_is_dead_lettered_after_max_delivery_count(connection: Connection) -> None:
    run = uuid.uuid4().hex[:8]
    session = f"{run}-P"
    sent = _statements(run, [session], per_session=2)
    _publish(connection, sent)
    calls: list[tuple[int, int]] = []

    def handler(statement: InboundStatement) -> None:
        calls.append((statement.sequence, statement.delivery_count))
        if statement.sequence == 0:
            raise ValueError("always fails")

    _consume_until(connection, handler, lambda: (1, 1) in calls)
    assert calls == [(0, 1), (0, 2), (0, 3), (1, 1)]  # MaxDeliveryCount = 3, then the session moves on
    consumer = ServiceBusSessionConsumer(connection, "work")
    dead = [d for d in consumer.dead_letters() if d.session_id == session]
    assert [(d.message_id, d.reason, d.properties["wal_name"]) for d in dead] == [
        (f"{run}-{session}-0", "MaxDeliveryCountExceeded", sent[0].wal.segment)
    ]


def test_the_session_lock_is_renewed_while_a_slow_handler_runs(
    connection: Connection, endpoint: EndpointProcess
) -> None:
    run = uuid.uuid4().hex[:8]
    _publish(connection, _statements(run, [f"{run}-S"], per_session=1))
    calls: list[tuple[int, int]] = []

    def handler(statement: InboundStatement) -> None:
        calls.append((statement.sequence, statement.delivery_count))
        time.sleep(LOCK_S * 1.8)  # longer than the lock: only renewal keeps it

    _consume_until(connection, handler, lambda: len(calls) >= 1 and _depth(endpoint) == 0, max_sessions=1)
    assert calls == [(0, 1)]  # completed after 3.6 s on a 2 s lock, never redelivered


def test_the_functions_binding_and_the_sdk_message_read_back_the_same(connection: Connection) -> None:
    run = uuid.uuid4().hex[:8]
    (sent,) = _statements(run, [f"{run}-F"], per_session=1)
    _publish(connection, [sent])
    with (
        ServiceBusClient.from_connection_string(connection.connection_string or "") as client,
        client.get_queue_receiver("work", session_id=sent.session_id) as receiver,
    ):
        (message,) = receiver.receive_messages(max_wait_time=2)
        from_sdk = to_inbound(message)
        receiver.complete_message(message)
    # What the Functions host hands the Python worker for the same message (1-based DeliveryCount).
    binding = FunctionsServiceBusMessage(
        body=b"".join(message.body),
        message_id=sent.message_id,
        session_id=sent.session_id,
        delivery_count=1,
        enqueued_time_utc=message.enqueued_time_utc.replace(tzinfo=None)
        if message.enqueued_time_utc
        else None,
        application_properties=statement_properties(sent, claim_check=False),
        user_properties={},
    )
    from_functions = to_inbound(binding)
    assert from_sdk == from_functions
    assert from_sdk.delivery_count == 1 and from_sdk.enqueued_at is not None
    assert from_sdk.enqueued_at.tzinfo == UTC
    assert (from_sdk.body, from_sdk.wal, from_sdk.epoch, from_sdk.region) == (
        sent.body,
        sent.wal,
        1,
        "DC04",
    )


def test_consumer_and_publisher_ride_through_an_endpoint_restart(tmp_path: Path) -> None:
    queue = QueueConfig("work", lock_duration_s=5, max_delivery_count=10, dup_window_s=600)
    with EndpointProcess([queue], data_dir=tmp_path) as process:
        connection = Connection("ServiceBusConnection", connection_string=process.connection_string)
        run = uuid.uuid4().hex[:8]
        first, second = _statements(run, ["R1", "R2"], 10), _statements(run + "b", ["R1", "R2"], 10)
        publisher = ServiceBusStatementPublisher(connection, "work")
        publisher.publish(first)
        handled: list[str] = []
        lock = threading.Lock()

        def handler(statement: InboundStatement) -> None:
            with lock:
                handled.append(statement.message_id)
            time.sleep(0.05)

        stop = threading.Event()
        consumer = ServiceBusSessionConsumer(connection, "work", idle_s=1.0)
        thread = threading.Thread(target=consumer.run, args=(handler, stop, 2), daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while len(handled) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.restart(kill=True)  # SIGKILL mid-stream; the journal keeps what was not completed
        publisher.publish(second)  # the publisher reconnects by itself
        expected = {s.message_id for s in first + second}
        deadline = time.monotonic() + 60
        while not expected <= set(handled) and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        thread.join(timeout=30)
        publisher.close()
        assert expected <= set(handled)  # nothing lost; a message handled but not completed comes again
        assert len(handled) - len(expected) <= 2  # at most the ones in flight at the kill (2 sessions)
        stats = process.stats()["queues"]["work"]  # type: ignore[index]
        assert stats["total"] == 0


def test_a_message_without_the_bridge_properties_is_malformed(connection: Connection) -> None:
    session = f"{uuid.uuid4().hex[:8]}-M"
    with ServiceBusClient.from_connection_string(connection.connection_string or "") as client:
        with client.get_queue_sender("work") as sender:
            sender.send_messages(ServiceBusMessage(b"?", message_id="stray", session_id=session))
        with client.get_queue_receiver("work", session_id=session) as receiver:
            (message,) = receiver.receive_messages(max_wait_time=2)
            with pytest.raises(MalformedMessage) as caught:
                to_inbound(message)
            receiver.complete_message(message)
    assert caught.value.reason == "malformed-message" and "wal_name" in str(caught.value)
