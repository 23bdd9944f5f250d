"""The local Service Bus endpoint's queue rules (``dev/servicebus/broker.py``) on a fake clock, and
the endpoint's ticker driven by the same clock (``dev/servicebus/endpoint.py``).

The broker takes time as a parameter (``now_ms``), so each rule is checked at exact instants without
sleeping: sequence numbers, session FIFO and exclusivity, peek-lock expiry and renewal, delivery
counts and dead-lettering at MaxDeliveryCount, duplicate detection within its window, deferral and
scheduling. Messages are encoded by Qpid Proton (an AMQP 1.0 encoder independent of the endpoint).
The rules follow the Service Bus documentation cited in the broker's docstring.
"""

from __future__ import annotations

import pytest
from proton import Message

from dev.servicebus.broker import BrokerError, Queue
from dev.servicebus.config import QueueConfig
from dev.servicebus.endpoint import Endpoint

LOCK_S, MAX_DELIVERIES, DUP_WINDOW_S = 30.0, 3, 600.0


class FakeClock:
    """Milliseconds since the epoch that move only when told."""

    def __init__(self) -> None:
        self.now_ms = 1_764_000_000_000

    def advance(self, seconds: float) -> int:
        self.now_ms += int(seconds * 1000)
        return self.now_ms


def amqp(message_id: str, session_id: str | None = "ACC-1", body: bytes = b"statement") -> bytes:
    message = Message(id=message_id, group_id=session_id, body=body)
    message.inferred = True  # a data section, as the azure-servicebus SDK sends bytes
    return bytes(message.encode())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue() -> Queue:
    config = QueueConfig(lock_duration_s=LOCK_S, max_delivery_count=MAX_DELIVERIES, dup_window_s=DUP_WINDOW_S)
    return Queue(config)


def test_sequence_numbers_grow_by_one_and_a_session_delivers_in_order(queue: Queue, clock: FakeClock) -> None:
    sent = [queue.enqueue(amqp(f"m{i}"), clock.now_ms) for i in range(3)]
    assert [m.seq for m in sent if m is not None] == [1, 2, 3]
    session = queue.acquire_session("receiver", None, clock.now_ms)
    assert session is not None and session.session_id == "ACC-1"
    received = []
    while (message := queue.next_message(session, "receiver", clock.now_ms)) is not None:
        received.append(message.message_id)
        assert message.lock_token is not None
        queue.settle(message.lock_token, "complete", clock.now_ms)
    assert received == ["m0", "m1", "m2"] and queue.stats(clock.now_ms)["total"] == 0


def test_a_session_has_one_owner_at_a_time(queue: Queue, clock: FakeClock) -> None:
    queue.enqueue(amqp("m1"), clock.now_ms)
    assert queue.acquire_session("first", "ACC-1", clock.now_ms) is not None
    with pytest.raises(BrokerError) as refused:
        queue.acquire_session("second", "ACC-1", clock.now_ms)
    assert refused.value.condition == "com.microsoft:session-cannot-be-locked"
    assert queue.acquire_session("second", None, clock.now_ms) is None  # no other session is ready


def test_a_session_queue_refuses_a_message_without_a_session_id(queue: Queue, clock: FakeClock) -> None:
    with pytest.raises(BrokerError) as refused:
        queue.enqueue(amqp("m1", session_id=None), clock.now_ms)
    assert refused.value.condition == "amqp:not-allowed"


def test_an_expired_session_lock_brings_the_message_back_with_one_more_delivery(
    queue: Queue, clock: FakeClock
) -> None:
    queue.enqueue(amqp("m1"), clock.now_ms)
    session = queue.acquire_session("receiver", None, clock.now_ms)
    message = queue.next_message(session, "receiver", clock.now_ms)
    assert message is not None and message.delivery_count == 0 and message.lock_token is not None
    token = message.lock_token
    assert queue.expire(clock.advance(LOCK_S - 0.001)) == []  # one millisecond before the lock ends
    assert queue.expire(clock.advance(0.001)) == ["receiver"]  # the owner lost its session lock
    with pytest.raises(BrokerError) as lost:
        queue.settle(token, "complete", clock.now_ms)
    assert lost.value.condition == "com.microsoft:message-lock-lost"
    again = queue.next_message(queue.acquire_session("other", None, clock.now_ms), "other", clock.now_ms)
    assert again is not None and again.message_id == "m1" and again.delivery_count == 1


def test_renewing_the_session_keeps_the_lock_past_its_first_expiry(queue: Queue, clock: FakeClock) -> None:
    queue.enqueue(amqp("m1"), clock.now_ms)
    session = queue.acquire_session("receiver", None, clock.now_ms)
    message = queue.next_message(session, "receiver", clock.now_ms)
    assert message is not None and message.lock_token is not None
    renewed_until = queue.renew_session("ACC-1", "receiver", clock.advance(20))
    assert renewed_until == clock.now_ms + int(LOCK_S * 1000)
    assert queue.expire(clock.advance(20)) == []  # 40 s after the first lock: still held
    queue.settle(message.lock_token, "complete", clock.now_ms)
    assert queue.stats(clock.now_ms)["completes"] == 1


def test_max_delivery_count_moves_the_message_to_the_dead_letter_queue(
    queue: Queue, clock: FakeClock
) -> None:
    queue.enqueue(amqp("poison"), clock.now_ms)
    for attempt in range(MAX_DELIVERIES):
        session = queue.acquire_session("receiver", None, clock.now_ms)
        message = queue.next_message(session, "receiver", clock.now_ms)
        assert message is not None and message.delivery_count == attempt and message.lock_token is not None
        queue.settle(message.lock_token, "abandon", clock.advance(1))
        queue.release_session("receiver", clock.now_ms, lost=False)
    assert queue.stats(clock.now_ms)["total"] == 0
    assert queue.dlq is not None
    [dead] = queue.dlq.peek(0, 10, None)
    assert dead.message_id == "poison"
    assert ("DeadLetterReason", "MaxDeliveryCountExceeded") in dead.extra_properties


def test_a_repeated_message_id_is_dropped_within_the_window_and_accepted_after_it(
    queue: Queue, clock: FakeClock
) -> None:
    assert queue.enqueue(amqp("m1"), clock.now_ms) is not None
    assert queue.enqueue(amqp("m1"), clock.advance(DUP_WINDOW_S - 1)) is None
    assert queue.stats(clock.now_ms)["duplicates"] == 1
    again = queue.enqueue(amqp("m1"), clock.advance(1))  # the window has passed since the first send
    assert again is not None and again.seq == 2


def test_a_scheduled_message_waits_for_its_time(queue: Queue, clock: FakeClock) -> None:
    at = clock.now_ms + 10_000
    queue.enqueue(amqp("later"), clock.now_ms, scheduled_ms=at)
    assert queue.acquire_session("receiver", None, clock.advance(9.999)) is None
    session = queue.acquire_session("receiver", None, clock.advance(0.001))
    message = queue.next_message(session, "receiver", clock.now_ms)
    assert message is not None and message.message_id == "later"


def test_a_deferred_message_comes_back_only_by_sequence_number(queue: Queue, clock: FakeClock) -> None:
    queue.enqueue(amqp("m1"), clock.now_ms)
    session = queue.acquire_session("receiver", None, clock.now_ms)
    message = queue.next_message(session, "receiver", clock.now_ms)
    assert message is not None and message.lock_token is not None
    queue.settle(message.lock_token, "defer", clock.now_ms)
    assert queue.next_message(session, "receiver", clock.now_ms) is None
    [back] = queue.by_sequence([message.seq], "receiver", clock.now_ms)
    assert back.message_id == "m1" and back.lock_token is not None
    with pytest.raises(BrokerError) as missing:
        queue.by_sequence([99], "receiver", clock.now_ms)
    assert missing.value.condition == "com.microsoft:message-not-found"


def test_the_endpoint_ticker_expires_locks_by_its_clock_alone(clock: FakeClock) -> None:
    """The endpoint takes its time from ``clock`` (no wall clock): its tick releases an expired lock."""
    endpoint = Endpoint(
        [QueueConfig(name="plain", requires_session=False, lock_duration_s=LOCK_S)],
        clock=lambda: clock.now_ms,
    )
    queue = endpoint.queues["plain"]
    queue.enqueue(amqp("m1", session_id=None), clock.now_ms)
    locked = queue.next_message(None, "receiver", clock.now_ms)
    assert locked is not None and queue.stats(clock.now_ms)["locked"] == 1
    clock.advance(LOCK_S - 1)
    endpoint.tick()
    assert queue.stats(clock.now_ms)["locked"] == 1
    clock.advance(1)
    endpoint.tick()
    assert queue.stats(clock.now_ms)["locked"] == 0 and locked.delivery_count == 1
    assert endpoint.stats()["uptime_s"] == LOCK_S
