"""The endpoint's journal on disk: replay after a restart, a torn last line, compaction while running.

In-process (no AMQP): the broker is driven directly with times passed in, and a second endpoint opened
on the same directory must hold exactly the state the first one left.
"""

from __future__ import annotations

from pathlib import Path

from azure.servicebus._pyamqp import _encode
from azure.servicebus._pyamqp.message import Message, Properties

from dev.servicebus.config import QueueConfig
from dev.servicebus.endpoint import Endpoint
from dev.servicebus.journal import FILE_NAME, FileJournal

QUEUE = QueueConfig("q", lock_duration_s=1, max_delivery_count=2, dup_window_s=60)


def _payload(message_id: str, session_id: str, body: bytes = b"x" * 1000) -> bytes:
    message = Message(properties=Properties(message_id=message_id, group_id=session_id), data=[body])
    return bytes(_encode.encode_payload(bytearray(), message))


def _open(directory: Path, compact_after_bytes: int = 64 << 20) -> tuple[Endpoint, FileJournal]:
    journal = FileJournal(directory, compact_after_bytes=compact_after_bytes)
    endpoint = Endpoint([QUEUE], journal)
    journal.open(endpoint)
    return endpoint, journal


def test_replay_restores_messages_counts_dead_letters_state_and_dedup(tmp_path: Path) -> None:
    endpoint, journal = _open(tmp_path)
    queue = endpoint.queues["q"]
    for n in range(4):
        queue.enqueue(_payload(f"m{n}", "A"), now_ms=1_000)
    session = queue.acquire_session("owner", "A", now_ms=1_000)
    first = queue.next_message(session, "owner", now_ms=1_000)
    assert first is not None and first.lock_token is not None
    queue.settle(first.lock_token, "complete", now_ms=1_000)  # m0 gone
    for _ in range(2):  # m1 abandoned twice: MaxDeliveryCount 2 -> dead-letter queue
        second = queue.next_message(session, "owner", now_ms=1_000)
        assert second is not None and second.lock_token is not None
        queue.settle(second.lock_token, "abandon", now_ms=1_000)
    third = queue.next_message(session, "owner", now_ms=1_000)
    assert third is not None and third.lock_token is not None
    queue.settle(third.lock_token, "abandon", now_ms=1_000)  # m2: delivery count 1
    queue.set_state("A", b"checkpoint")
    queue.set_state("B", b"")  # empty, not absent
    journal.close()

    again, _ = _open(tmp_path)
    restored = again.queues["q"]
    assert [(m.message_id, m.delivery_count) for m in restored.messages.values()] == [("m2", 1), ("m3", 0)]
    assert restored.dlq is not None
    assert [(m.message_id, m.extra_properties[0][1]) for m in restored.dlq.messages.values()] == [
        ("m1", "MaxDeliveryCountExceeded")
    ]
    assert restored.sessions["A"].state == b"checkpoint"
    assert restored.sessions["B"].state == b""
    assert restored.last_seq == 4
    assert restored.enqueue(_payload("m0", "A"), now_ms=2_000) is None  # still within the dedup window
    assert restored.enqueue(_payload("m9", "A"), now_ms=2_000) is not None


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    endpoint, journal = _open(tmp_path)
    endpoint.queues["q"].enqueue(_payload("kept", "A"), now_ms=1_000)
    journal.close()
    with (tmp_path / FILE_NAME).open("a", encoding="utf-8") as file:
        file.write('{"op":"enqueue","q":"q","seq":2,"at":1')  # the process died mid-write
    again, _ = _open(tmp_path)
    assert [m.message_id for m in again.queues["q"].messages.values()] == ["kept"]


def test_the_journal_is_compacted_while_running(tmp_path: Path) -> None:
    endpoint, journal = _open(tmp_path, compact_after_bytes=100_000)
    queue = endpoint.queues["q"]
    for n in range(300):  # ~1.4 KB a line (base64 payload): ~450 KB appended, 150 stay
        queue.enqueue(_payload(f"m{n}", f"S{n % 3}"), now_ms=1_000)
        if n % 2:
            session = queue.acquire_session("owner", f"S{n % 3}", now_ms=1_000)
            message = queue.next_message(session, "owner", now_ms=1_000)
            assert message is not None and message.lock_token is not None
            queue.settle(message.lock_token, "complete", now_ms=1_000)
            queue.release_session("owner", now_ms=1_000, lost=False)
    assert journal.compactions >= 3  # one at open, then whenever the appended part passed the threshold
    assert (tmp_path / FILE_NAME).stat().st_size < 400_000
    journal.close()
    again, _ = _open(tmp_path)
    assert list(again.queues["q"].messages) == list(queue.messages)
