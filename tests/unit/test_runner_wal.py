"""The runner's WAL reads and the faults of issue 15 item 6: the claim-check body by ranged read of its
segment, a missing body classified (transient within the replication window, then permanent and
quarantined), and the output backup after ``DELIVERED``, best-effort."""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

import pytest

from shared.errors import ServiceUnavailable, TransientError
from shared.model import RecordState, WalEntry, delivery_key_for
from shared.telemetry import metrics
from tests.twins import InMemoryBodyStore
from tests.unit.segments import claim_checked, write_segment
from tests.unit.twins import Shared, fake_translate
from transformation_runner.handler import Outcome

BODIES = [b"ACC|statement one", b"ACC|statement two, longer", b"ACC|statement three"]


@pytest.fixture
def shared() -> Shared:
    s = Shared()
    s.activate("DC04")
    return s


def segment_of_three(shared: Shared) -> list[WalEntry]:
    ids = [f"{n:048x}" for n in range(1, 4)]
    segment = write_segment(
        shared.wal, [(i, "ACC", b) for i, b in zip(ids, BODIES, strict=True)], at=shared.clock.now
    )
    return list(segment.entries)


def test_each_claim_check_body_is_its_own_range_of_the_segment(shared: Shared) -> None:
    entries = segment_of_three(shared)
    runner = shared.runner()
    for entry in entries:
        assert runner.handle(claim_checked(entry, enqueued_at=shared.clock.now)) is Outcome.DELIVERED
    delivered = [shared.target.delivered[delivery_key_for(e.message_id)] for e in entries]
    assert delivered == ["".join(fake_translate(body).messages).encode() for body in BODIES]
    assert shared.record(entries[1].message_id).body_sha256 == hashlib.sha256(BODIES[1]).hexdigest()


def test_a_body_that_does_not_match_its_hash_is_recorded_failed_and_quarantined(shared: Shared) -> None:
    entries = segment_of_three(shared)
    wrong = replace(entries[1].locator, offset=entries[0].offset)  # another record's bytes
    message = replace(claim_checked(entries[1], enqueued_at=shared.clock.now), wal=wrong)
    assert shared.runner().handle(message) is Outcome.FAILED
    record = shared.record(entries[1].message_id)
    assert (record.state, record.reason) == (RecordState.FAILED, "wal-entry-unreadable")
    assert not shared.target.delivered
    kept = json.loads(shared.quarantine.get(entries[1].message_id))
    assert kept["wal"]["segment"] == entries[1].segment and "SHA-256" in kept["error"]


def test_a_missing_body_within_the_replication_window_is_retried_with_the_backoff(shared: Shared) -> None:
    [entry, *_] = segment_of_three(shared)
    message = claim_checked(entry, enqueued_at=shared.clock.now, delivery_count=3)
    shared.wal.delete(entry.segment)
    shared.clock.advance(60)
    with pytest.raises(TransientError):
        shared.runner(replication_window_s=300, backoff_s=2.0).handle(message)
    assert shared.clock.slept == [6.0]  # backoff × delivery count, before the message is abandoned
    assert shared.store.get(entry.message_id) is None and not shared.target.delivered


def test_a_body_arriving_within_the_window_is_then_delivered(shared: Shared) -> None:
    at = shared.clock.now
    [entry, *_] = segment_of_three(shared)
    segment, data = shared.wal.read_segment(entry.segment)
    shared.wal.delete(entry.segment)
    runner = shared.runner(replication_window_s=300)
    with pytest.raises(TransientError):
        runner.handle(claim_checked(entry, enqueued_at=at))
    shared.wal.append(segment, data)  # the reconcile copied the segment over
    assert runner.handle(claim_checked(entry, enqueued_at=at, delivery_count=2)) is Outcome.DELIVERED


def test_a_missing_body_beyond_the_window_is_recorded_failed_and_quarantined(shared: Shared) -> None:
    [entry, *_] = segment_of_three(shared)
    message = claim_checked(entry, enqueued_at=shared.clock.now, delivery_count=4)
    shared.wal.delete(entry.segment)
    shared.clock.advance(301)
    assert shared.runner(replication_window_s=300).handle(message) is Outcome.FAILED
    record = shared.record(entry.message_id)
    assert (record.state, record.reason) == (RecordState.FAILED, "wal-body-missing")
    assert record.body_sha256 == entry.sha256  # claimed for the body it should have had
    kept = json.loads(shared.quarantine.get(entry.message_id))
    assert kept["wal"] == {
        "segment": entry.segment,
        "offset": entry.offset,
        "size": entry.size,
        "sha256": entry.sha256,
    }
    assert kept["position"] == "1/1" and "301 s after its enqueue" in kept["error"]
    assert not shared.target.delivered and not shared.clock.slept  # completed: never retried again


def test_a_missing_body_of_a_delivered_statement_is_a_duplicate(shared: Shared) -> None:
    """A stale copy of a delivered message, whose segment is gone (retention), completes quietly."""
    [entry, *_] = segment_of_three(shared)
    message = claim_checked(entry, enqueued_at=shared.clock.now)
    assert shared.runner().handle(message) is Outcome.DELIVERED
    shared.wal.delete(entry.segment)
    shared.clock.advance(3600)
    assert shared.runner().handle(message) is Outcome.DUPLICATE
    assert shared.record(entry.message_id).state is RecordState.DELIVERED
    assert sum(shared.target.attempts.values()) == 1


class WatchedBackup(InMemoryBodyStore):
    """A backup container that notes the record's state at each put, and can fail."""

    def __init__(self, shared: Shared) -> None:
        super().__init__()
        self.shared = shared
        self.states: list[RecordState] = []

    def put(self, name: str, body: bytes, metadata: Mapping[str, str]) -> None:
        self.states.append(self.shared.record(name.removesuffix(".fin")).state)
        super().put(name, body, metadata)


def test_the_output_backup_runs_after_delivered(shared: Shared) -> None:
    [entry, *_] = segment_of_three(shared)
    backup = WatchedBackup(shared)
    assert shared.runner(backup=backup).handle(claim_checked(entry, enqueued_at=None)) is Outcome.DELIVERED
    assert backup.states == [RecordState.DELIVERED]
    assert (
        backup.get(f"{entry.message_id}.fin") == shared.target.delivered[delivery_key_for(entry.message_id)]
    )


def test_a_backup_failure_neither_releases_the_claim_nor_redelivers(shared: Shared) -> None:
    entries = segment_of_three(shared)
    backup = WatchedBackup(shared)
    backup.available = False
    runner = shared.runner(backup=backup)
    for entry in entries:
        assert runner.handle(claim_checked(entry, enqueued_at=None)) is Outcome.DELIVERED
        assert runner.handle(claim_checked(entry, enqueued_at=None, delivery_count=2)) is Outcome.DUPLICATE
    assert all(shared.record(e.message_id).state is RecordState.DELIVERED for e in entries)
    assert all(shared.record(e.message_id).attempts == 1 for e in entries)
    assert sum(shared.target.attempts.values()) == 3 and not shared.clock.slept
    assert metrics.snapshot()["backup_failed"] == 3


def test_a_wal_outage_is_transient_whatever_the_age(shared: Shared) -> None:
    [entry, *_] = segment_of_three(shared)
    message = claim_checked(entry, enqueued_at=shared.clock.now - timedelta(days=2))
    shared.wal.available = False
    with pytest.raises(ServiceUnavailable):
        shared.runner().handle(message)
    assert shared.store.get(entry.message_id) is None


def test_with_the_default_window_a_missing_body_is_recorded_before_max_delivery_count(shared: Shared) -> None:
    """Service Bus dead-letters after MaxDeliveryCount (10, infra/modules/servicebus-namespace.bicep);
    the runner's backoff before each redelivery (2 s × delivery count) adds up to 90 s by the tenth, so
    the default window must classify the missing body before that."""
    [entry, *_] = segment_of_three(shared)
    enqueued = shared.clock.now
    shared.wal.delete(entry.segment)
    runner = shared.runner()  # the default replication window and backoff
    outcomes: list[Outcome | None] = []
    for delivery in range(1, 11):
        try:
            outcomes.append(
                runner.handle(claim_checked(entry, enqueued_at=enqueued, delivery_count=delivery))
            )
            break
        except TransientError:
            outcomes.append(None)
    assert outcomes[-1] is Outcome.FAILED and len(outcomes) < 10
    assert shared.record(entry.message_id).reason == "wal-body-missing"


def test_a_missing_body_of_an_in_doubt_delivery_the_target_confirms_is_reconciled(shared: Shared) -> None:
    """A worker delivered, then stopped before recording; by the redelivery the segment is gone. The
    target confirms the delivery key: recorded DELIVERED (reconciled), not FAILED."""
    [entry, *_] = segment_of_three(shared)
    message = claim_checked(entry, enqueued_at=shared.clock.now)
    shared.store.claim(
        message_id=entry.message_id,
        session_id=entry.session_id,
        region="DC04",
        epoch=1,
        delivery_key=delivery_key_for(entry.message_id),
        lease_until=shared.clock.now,  # expired at once: in doubt
        wal_name=entry.segment,
        sequence=entry.sequence,
        body_sha256=entry.sha256,
    )
    shared.target.deliver(delivery_key_for(entry.message_id), b"MT950", {})
    shared.wal.delete(entry.segment)
    shared.clock.advance(120)
    assert shared.runner().handle(message) is Outcome.RECONCILED
    record = shared.record(entry.message_id)
    assert record.state is RecordState.DELIVERED and "reconciled" in record.details
    assert sum(shared.target.attempts.values()) == 1
