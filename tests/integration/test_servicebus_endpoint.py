"""The local Service Bus endpoint's semantics, exercised only through the unmodified azure-servicebus SDK.

Each expectation is Service Bus's documented behaviour (learn.microsoft.com/azure/service-bus-messaging:
"Message sessions", "Message transfers, locks, and settlement", "Duplicate detection", "Dead-letter
queues", "Message deferral"). Lock durations are 2 s so expiry tests stay short.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.servicebus import (
    NEXT_AVAILABLE_SESSION,
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusReceivedMessage,
)
from azure.servicebus.exceptions import MessageLockLostError, SessionCannotBeLockedError

from dev.servicebus.config import QueueConfig
from dev.servicebus.process import EndpointProcess

pytestmark = pytest.mark.integration

LOCK_S = 2.0
QUEUES = [
    QueueConfig("held", requires_session=True, lock_duration_s=30),
    QueueConfig(
        "statements", requires_session=True, lock_duration_s=LOCK_S, max_delivery_count=3, dup_window_s=3
    ),
    QueueConfig(
        "plain", requires_session=False, lock_duration_s=LOCK_S, max_delivery_count=3, dup_window_s=3
    ),
]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[EndpointProcess]:
    with EndpointProcess(QUEUES) as process:
        yield process


@pytest.fixture
def client(endpoint: EndpointProcess) -> Iterator[ServiceBusClient]:
    with ServiceBusClient.from_connection_string(endpoint.connection_string) as sb:
        yield sb


def _sid() -> str:
    return f"acct-{uuid.uuid4().hex[:8]}"


def _send(client: ServiceBusClient, queue: str, messages: list[ServiceBusMessage]) -> None:
    with client.get_queue_sender(queue) as sender:
        sender.send_messages(messages)


def test_a_session_delivers_in_send_order_and_sends_properties_back(client: ServiceBusClient) -> None:
    a, b = _sid(), _sid()
    batch = []
    for i in range(10):
        batch.append(ServiceBusMessage(f"a{i}".encode(), message_id=f"{a}-{i}", session_id=a))
        batch.append(ServiceBusMessage(f"b{i}".encode(), message_id=f"{b}-{i}", session_id=b))
    _send(client, "statements", batch)
    _send(
        client,
        "statements",
        [
            ServiceBusMessage(
                b"x", message_id=f"{a}-x", session_id=a, application_properties={"k": "v", "n": 7}
            )
        ],
    )
    with client.get_queue_receiver("statements", session_id=a) as receiver:
        got: list[ServiceBusReceivedMessage] = []
        while len(got) < 11:
            for message in receiver.receive_messages(max_message_count=20, max_wait_time=2):
                got.append(message)
                receiver.complete_message(message)
    assert [m.message_id for m in got] == [f"{a}-{i}" for i in range(10)] + [f"{a}-x"]
    assert [m.sequence_number for m in got] == sorted(m.sequence_number or 0 for m in got)
    assert {m.session_id for m in got} == {a}
    assert got[-1].application_properties == {b"k": b"v", b"n": 7}
    assert b"".join(got[0].body) == b"a0"
    assert got[0].delivery_count == 0  # AMQP header delivery-count: failed attempts before this one


def test_one_receiver_per_session_and_next_available_skips_locked_sessions(client: ServiceBusClient) -> None:
    # On a queue of its own with a 30 s lock: nothing else competes and no lock runs out meanwhile.
    held, free = _sid(), _sid()
    _send(
        client, "held", [ServiceBusMessage(b"1", session_id=held), ServiceBusMessage(b"2", session_id=free)]
    )
    with client.get_queue_receiver("held", session_id=held) as first:
        with (
            pytest.raises(SessionCannotBeLockedError),
            client.get_queue_receiver("held", session_id=held) as second,
        ):
            second.receive_messages(max_wait_time=1)
        with client.get_queue_receiver("held", session_id=NEXT_AVAILABLE_SESSION, max_wait_time=3) as other:
            assert other.session.session_id == free
            (message,) = other.receive_messages(max_wait_time=2)
            other.complete_message(message)
        (message,) = first.receive_messages(max_wait_time=2)
        assert message.session_id == held
        first.complete_message(message)


def test_an_unsettled_message_returns_after_the_lock_with_delivery_count_plus_one(
    client: ServiceBusClient,
) -> None:
    _send(client, "plain", [ServiceBusMessage(b"p", message_id=f"exp-{uuid.uuid4()}")])
    with client.get_queue_receiver("plain") as receiver:
        (first,) = receiver.receive_messages(max_wait_time=2)
        time.sleep(LOCK_S + 0.5)
        with pytest.raises(MessageLockLostError):
            receiver.complete_message(first)
        (again,) = receiver.receive_messages(max_wait_time=2)
        assert again.message_id == first.message_id
        assert again.delivery_count == (first.delivery_count or 0) + 1
        receiver.complete_message(again)


def test_session_lock_expiry_releases_the_session_with_delivery_count_plus_one(
    client: ServiceBusClient,
) -> None:
    sid = _sid()
    _send(client, "statements", [ServiceBusMessage(b"s", message_id=f"{sid}-1", session_id=sid)])
    with client.get_queue_receiver("statements", session_id=sid) as receiver:
        (first,) = receiver.receive_messages(max_wait_time=2)
        time.sleep(LOCK_S + 0.5)
    with client.get_queue_receiver("statements", session_id=sid) as receiver:
        (again,) = receiver.receive_messages(max_wait_time=2)
        assert (again.message_id, again.delivery_count) == (first.message_id, (first.delivery_count or 0) + 1)
        receiver.complete_message(again)


def test_renewing_locks_keeps_the_message(client: ServiceBusClient) -> None:
    _send(client, "plain", [ServiceBusMessage(b"r", message_id=f"renew-{uuid.uuid4()}")])
    with client.get_queue_receiver("plain") as receiver:
        (message,) = receiver.receive_messages(max_wait_time=2)
        first_until = message.locked_until_utc
        for _ in range(3):
            time.sleep(LOCK_S * 0.6)
            receiver.renew_message_lock(message)
        assert first_until is not None and message.locked_until_utc is not None
        assert message.locked_until_utc > first_until
        receiver.complete_message(message)  # 3.6 s after receipt: only the renewals kept the lock
        assert receiver.receive_messages(max_wait_time=1) == []


def test_abandon_redelivers_at_once_and_max_delivery_count_dead_letters(client: ServiceBusClient) -> None:
    mid = f"poison-{uuid.uuid4()}"
    _send(client, "plain", [ServiceBusMessage(b"poison", message_id=mid)])
    counts = []
    with client.get_queue_receiver("plain") as receiver:
        for _ in range(3):  # MaxDeliveryCount = 3
            (message,) = receiver.receive_messages(max_wait_time=2)
            assert message.message_id == mid
            counts.append(message.delivery_count)
            receiver.abandon_message(message)
        assert receiver.receive_messages(max_wait_time=1) == []
    assert counts == [0, 1, 2]
    with client.get_queue_receiver("plain", sub_queue="deadletter") as dlq:
        (dead,) = [
            m for m in dlq.receive_messages(max_message_count=20, max_wait_time=2) if m.message_id == mid
        ]
        assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
        assert dead.dead_letter_source == "plain"
        assert b"".join(dead.body) == b"poison"
        dlq.complete_message(dead)


def test_dead_letter_with_reason_from_a_session(client: ServiceBusClient) -> None:
    sid = _sid()
    _send(client, "statements", [ServiceBusMessage(b"bad", message_id=f"{sid}-bad", session_id=sid)])
    with client.get_queue_receiver("statements", session_id=sid) as receiver:
        (message,) = receiver.receive_messages(max_wait_time=2)
        receiver.dead_letter_message(message, reason="unsafe-xml", error_description="DTD found")
    with client.get_queue_receiver("statements", sub_queue="deadletter") as dlq:
        dead = [m for m in dlq.receive_messages(max_message_count=50, max_wait_time=2) if m.session_id == sid]
        assert [(m.message_id, m.dead_letter_reason, m.dead_letter_error_description) for m in dead] == [
            (f"{sid}-bad", "unsafe-xml", "DTD found")
        ]
        dlq.complete_message(dead[0])


def test_duplicate_message_id_is_dropped_within_the_window_and_accepted_after(
    client: ServiceBusClient,
) -> None:
    mid = f"dup-{uuid.uuid4()}"
    _send(client, "plain", [ServiceBusMessage(b"one", message_id=mid)])
    _send(client, "plain", [ServiceBusMessage(b"two", message_id=mid)])  # within 3 s: dropped silently
    with client.get_queue_receiver("plain") as receiver:
        received = receiver.receive_messages(max_message_count=10, max_wait_time=2)
        assert [b"".join(m.body) for m in received] == [b"one"]
        receiver.complete_message(received[0])
        time.sleep(3.2)  # the window (3 s) has passed
        _send(client, "plain", [ServiceBusMessage(b"three", message_id=mid)])
        (late,) = receiver.receive_messages(max_message_count=10, max_wait_time=2)
        assert b"".join(late.body) == b"three"
        receiver.complete_message(late)


def test_session_state_and_peek(client: ServiceBusClient) -> None:
    sid = _sid()
    _send(
        client,
        "statements",
        [ServiceBusMessage(f"{i}".encode(), message_id=f"{sid}-{i}", session_id=sid) for i in range(3)],
    )
    with client.get_queue_receiver("statements", session_id=sid) as receiver:
        assert receiver.session.get_state() is None
        receiver.session.set_state(b"checkpoint-1")
        assert receiver.session.get_state() == b"checkpoint-1"
        peeked = receiver.peek_messages(max_message_count=10)
        assert [m.message_id for m in peeked] == [f"{sid}-{i}" for i in range(3)]
        received = receiver.receive_messages(max_message_count=3, max_wait_time=2)
        for message in received:
            receiver.complete_message(message)
        assert receiver.peek_messages(max_message_count=10) == []
    with client.get_queue_receiver("statements", session_id=sid) as receiver:
        assert receiver.session.get_state() == b"checkpoint-1"
        receiver.session.set_state(None)


def test_defer_then_receive_by_sequence_number(client: ServiceBusClient) -> None:
    mid = f"defer-{uuid.uuid4()}"
    _send(client, "plain", [ServiceBusMessage(b"later", message_id=mid)])
    with client.get_queue_receiver("plain") as receiver:
        (message,) = receiver.receive_messages(max_wait_time=2)
        receiver.defer_message(message)
        assert message.sequence_number is not None
        assert receiver.receive_messages(max_wait_time=1) == []
        (deferred,) = receiver.receive_deferred_messages([message.sequence_number])
        assert deferred.message_id == mid
        receiver.complete_message(deferred)


def test_restart_with_a_data_dir_keeps_messages_state_and_dedup_history(tmp_path: Path) -> None:
    queues = [QueueConfig("statements", lock_duration_s=LOCK_S, max_delivery_count=5, dup_window_s=60)]
    with EndpointProcess(queues, data_dir=tmp_path) as process:
        with ServiceBusClient.from_connection_string(process.connection_string) as sb:
            _send(
                sb,
                "statements",
                [ServiceBusMessage(f"{i}".encode(), message_id=f"k{i}", session_id="A") for i in range(5)],
            )
            with sb.get_queue_receiver("statements", session_id="A") as receiver:
                receiver.session.set_state(b"seen:k0")
                (first,) = receiver.receive_messages(max_message_count=1, max_wait_time=2)
                receiver.complete_message(first)
                (second,) = receiver.receive_messages(max_message_count=1, max_wait_time=2)
                receiver.abandon_message(second)
        process.restart(kill=True)  # SIGKILL: nothing is flushed on the way out
        with ServiceBusClient.from_connection_string(process.connection_string) as sb:
            _send(
                sb, "statements", [ServiceBusMessage(b"again", message_id="k1", session_id="A")]
            )  # duplicate
            with sb.get_queue_receiver("statements", session_id="A") as receiver:
                assert receiver.session.get_state() == b"seen:k0"
                got = receiver.receive_messages(max_message_count=10, max_wait_time=2)
                assert [(m.message_id, m.delivery_count) for m in got] == [
                    ("k1", 1),
                    ("k2", 0),
                    ("k3", 0),
                    ("k4", 0),
                ]
                assert got[0].sequence_number == 2
                for message in got:
                    receiver.complete_message(message)
        stats = process.stats()["queues"]["statements"]  # type: ignore[index]
        assert stats["total"] == 0 and stats["duplicates"] == 1


def test_a_scheduled_message_appears_at_its_time_and_a_cancelled_one_never(client: ServiceBusClient) -> None:
    run = uuid.uuid4().hex[:8]
    at = datetime.now(UTC) + timedelta(seconds=4)
    with client.get_queue_sender("plain") as sender:
        sender.schedule_messages(ServiceBusMessage(b"later", message_id=f"{run}-kept"), at)
        (cancelled,) = sender.schedule_messages(
            ServiceBusMessage(b"never", message_id=f"{run}-cancelled"), at
        )
        sender.cancel_scheduled_messages(cancelled)
        sender.send_messages(
            ServiceBusMessage(b"at", message_id=f"{run}-sent", scheduled_enqueue_time_utc=at)
        )
    with client.get_queue_receiver("plain") as receiver:
        assert receiver.receive_messages(max_wait_time=0.5) == []
        assert datetime.now(UTC) < at  # so the empty answer above means "not yet"
        time.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))
        got = receiver.receive_messages(max_message_count=5, max_wait_time=2)
        assert [m.message_id for m in got] == [f"{run}-kept", f"{run}-sent"]
        for message in got:
            receiver.complete_message(message)


def test_garbage_on_the_wire_closes_that_connection_only(
    endpoint: EndpointProcess, client: ServiceBusClient
) -> None:
    for junk in (b"GET / HTTP/1.1\r\n\r\n", b"AMQP\x00\x01\x00\x00" + b"\xff" * 64):
        with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as raw:
            raw.sendall(junk)
            raw.settimeout(5)
            answer = b""
            while chunk := raw.recv(4096):  # the endpoint answers its protocol header, then closes
                answer += chunk
            assert answer.startswith(b"AMQP")
    sid = _sid()
    _send(client, "statements", [ServiceBusMessage(b"still fine", session_id=sid)])
    with client.get_queue_receiver("statements", session_id=sid) as receiver:
        (message,) = receiver.receive_messages(max_wait_time=2)
        receiver.complete_message(message)


def test_the_command_line_flags_configure_the_default_queue_and_sigterm_exits_cleanly() -> None:
    root = Path(__file__).resolve().parents[2]
    args = ["--port", "0", "--max-delivery-count", "2", "--lock-duration-s", "5", "--stats-port", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "dev.servicebus", *args], cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().split()
        assert ready[0] == "READY" and ready[2] == "stats"
        connection_string = (
            f"Endpoint=sb://127.0.0.1:{ready[1]};SharedAccessKeyName=local;SharedAccessKey=local;"
            "UseDevelopmentEmulator=true"
        )
        with ServiceBusClient.from_connection_string(connection_string) as sb:
            _send(sb, "statements", [ServiceBusMessage(b"x", message_id="cli", session_id="S")])
            for _ in range(2):  # MaxDeliveryCount 2 from the flag
                with sb.get_queue_receiver("statements", session_id="S") as receiver:
                    (message,) = receiver.receive_messages(max_wait_time=2)
                    receiver.abandon_message(message)
            with sb.get_queue_receiver("statements", sub_queue="deadletter") as dlq:
                (dead,) = dlq.receive_messages(max_wait_time=2)
                assert dead.message_id == "cli" and dead.dead_letter_reason == "MaxDeliveryCountExceeded"
                dlq.complete_message(dead)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
