"""Transformation Runner: fence → claim → translate → deliver → record, and every crash window."""

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

import pytest

from dev.faults import CrashPoints, FaultInjected
from shared.errors import RegionNotActive, ServiceUnavailable, StaleEpoch
from shared.model import OutboundStatement, RecordState, delivery_key_for
from shared.telemetry import metrics
from tests.unit.twins import FakeTranslation, Shared, fake_translate, inbound, put_statements
from transformation_runner.handler import ClaimHeld, Outcome


@pytest.fixture
def shared() -> Shared:
    s = Shared()
    s.activate("DC04")
    return s


def published(shared: Shared, count: int = 1, account: str = "ACC") -> list:
    put_statements(shared, count, account=account)
    shared.queue_builder().run(budget_s=5)
    return [inbound(s) for s in shared.publisher.sent]


def test_delivers_once_and_records(shared: Shared) -> None:
    [message] = published(shared)
    assert shared.runner().handle(message) is Outcome.DELIVERED
    key = delivery_key_for(message.message_id)
    assert list(shared.target.delivered) == [key]
    record = shared.store.get(message.message_id)
    assert record is not None and record.state is RecordState.DELIVERED and record.delivery_key == key
    assert record.epoch == 1 and record.region == "DC04"
    # The format that was sent travels with the delivery and is recorded (fake: one MT950 page).
    assert shared.target.metadata[key]["format"] == "MT950"
    assert record.details == {"pages": "1", "format": "MT950"}


def test_every_format_of_a_body_is_recorded(shared: Shared) -> None:
    """A body whose statements went out in two formats (per account) records both, in order."""
    [message] = published(shared)

    def two_formats(body: bytes) -> FakeTranslation:
        return replace(fake_translate(body), formats=("MT940", "MT950"))

    shared.runner(translate=two_formats).handle(message)
    key = delivery_key_for(message.message_id)
    assert shared.target.metadata[key]["format"] == "MT940,MT950"
    record = shared.store.get(message.message_id)
    assert record is not None and record.details["format"] == "MT940,MT950"


def test_duplicate_is_completed_without_delivering(shared: Shared) -> None:
    [message] = published(shared)
    runner = shared.runner()
    runner.handle(message)
    assert runner.handle(message) is Outcome.DUPLICATE
    assert shared.runner(region="DC04").handle(message) is Outcome.DUPLICATE
    assert sum(shared.target.attempts.values()) == 1
    assert metrics.snapshot()["duplicates_suppressed"] == 2


def test_passive_region_is_fenced_before_claiming(shared: Shared) -> None:
    [message] = published(shared)
    with pytest.raises(RegionNotActive):
        shared.runner(region="DC06").handle(message)
    assert shared.store.get(message.message_id) is None and not shared.target.delivered


def test_crash_after_delivery_before_record_is_reconciled_when_target_can_tell(shared: Shared) -> None:
    [message] = published(shared)
    with pytest.raises(FaultInjected):
        shared.runner(around=CrashPoints("runner.after_deliver=raise@1")).handle(message)
    assert shared.record(message.message_id).state is RecordState.PENDING
    assert shared.runner().handle(message) is Outcome.RECONCILED
    assert sum(shared.target.attempts.values()) == 1
    assert shared.record(message.message_id).state is RecordState.DELIVERED
    assert metrics.snapshot()["in_doubt"] == 1


def test_in_doubt_redelivers_with_the_same_key_when_target_cannot_tell(shared: Shared) -> None:
    shared.target.can_tell = False
    [message] = published(shared)
    with pytest.raises(FaultInjected):
        shared.runner(around=CrashPoints("runner.after_deliver=raise@1")).handle(message)
    assert shared.runner().handle(message) is Outcome.DELIVERED
    key = delivery_key_for(message.message_id)
    assert shared.target.attempts == {key: 2}  # same key both times: the receiver drops the repeat
    assert len(shared.target.delivered) == 1
    assert metrics.snapshot()["in_doubt_redelivered_same_key"] == 1


def test_crashed_worker_lease_is_waited_out_then_taken_over(shared: Shared) -> None:
    """A process killed after its claim leaves a live lease; the next worker waits it out."""
    [message] = published(shared)
    record = shared.store.claim(
        message_id=message.message_id,
        session_id=message.session_id,
        region="DC04",
        epoch=1,
        delivery_key=delivery_key_for(message.message_id),
        lease_until=shared.clock.now.replace(second=20),
        wal_name=message.wal_name,
        sequence=message.sequence,
    )
    assert record.state is RecordState.PENDING
    assert shared.runner().handle(message) is Outcome.DELIVERED
    assert shared.clock.slept and 19 < shared.clock.slept[0] < 21
    assert shared.record(message.message_id).attempts == 2


def test_live_claim_beyond_the_wait_bound_is_retried_later(shared: Shared) -> None:
    [message] = published(shared)
    shared.store.claim(
        message_id=message.message_id,
        session_id=message.session_id,
        region="DC06",
        epoch=1,
        delivery_key=delivery_key_for(message.message_id),
        lease_until=shared.clock.now.replace(hour=10),
        wal_name=message.wal_name,
        sequence=message.sequence,
    )
    with pytest.raises(ClaimHeld):
        shared.runner(max_claim_wait_s=5).handle(message)
    assert not shared.target.delivered


def test_permanent_error_is_recorded_quarantined_and_completed(shared: Shared) -> None:
    shared.mq.put("cd" * 24, b"ACC|statement ok")
    shared.mq.put("ef" * 24, b"BAD|broken xml")
    shared.queue_builder().run(budget_s=5)
    ok, bad = (inbound(s) for s in shared.publisher.sent)
    runner = shared.runner()
    assert runner.handle(bad) is Outcome.FAILED
    assert runner.handle(ok) is Outcome.DELIVERED  # the session continues after the poison message
    record = shared.record(bad.message_id)
    assert record.state is RecordState.FAILED and record.reason == "not-camt053"
    assert "cannot translate" in record.details["error"]
    assert shared.quarantine.items[bad.message_id][0] == b"BAD|broken xml"
    assert runner.handle(bad) is Outcome.DUPLICATE  # never retried forever
    assert metrics.snapshot()["failed"] == 1


def test_transient_delivery_failure_raises_and_releases_the_lease(shared: Shared) -> None:
    [message] = published(shared)
    shared.target.available = False
    with pytest.raises(ServiceUnavailable):
        shared.runner().handle(message)
    record = shared.record(message.message_id)
    assert record.state is RecordState.PENDING and record.lease_expired(shared.clock.now)
    shared.target.available = True
    assert shared.runner().handle(message) is Outcome.DELIVERED
    assert shared.clock.slept == [2.0]  # the backoff before abandoning, no wait for our own lease


def test_slow_delivery_superseded_by_a_takeover_records_once(shared: Shared) -> None:
    """Delivery slower than the lease: another worker takes over; same key, one final record."""
    [message] = published(shared)
    slow = shared.runner(lease_s=5)
    other = shared.runner(lease_s=5)

    original_deliver = shared.target.deliver

    def deliver_slowly(key: str, payload: bytes, metadata: Mapping[str, str]) -> None:
        shared.target.deliver = original_deliver  # type: ignore[method-assign]  # the takeover delivers normally
        shared.clock.advance(10)  # the lease expires while we deliver
        assert other.handle(message) is Outcome.DELIVERED
        original_deliver(key, payload, metadata)

    shared.target.deliver = deliver_slowly  # type: ignore[method-assign,assignment]  # a slow MessageWay
    assert slow.handle(message) is Outcome.SUPERSEDED
    assert len(shared.target.delivered) == 1  # both used the same delivery key
    assert shared.record(message.message_id).state is RecordState.DELIVERED


def test_claim_check_body_is_read_from_the_wal(shared: Shared) -> None:
    [message] = published(shared)
    assert shared.runner().handle(replace(message, body=None, claim_check=True)) is Outcome.DELIVERED
    assert b"statement 0" in next(iter(shared.target.delivered.values()))


def test_inversions_within_a_session_are_counted(shared: Shared) -> None:
    first, second, third = published(shared, 3)
    runner = shared.runner()
    runner.handle(second)
    runner.handle(first)
    runner.handle(third)
    assert metrics.snapshot()["inversions"] == 1


def test_fence_right_before_delivery(shared: Shared) -> None:
    """A flip between claim and delivery stops the delivery (gate cache TTL 0 here)."""
    [message] = published(shared)

    def flip_then_translate(body: bytes) -> FakeTranslation:
        shared.activate("DC06")
        return fake_translate(body)

    with pytest.raises(RegionNotActive):
        shared.runner(translate=flip_then_translate).handle(message)
    assert not shared.target.delivered


def test_a_fenced_region_backs_off_before_the_message_is_abandoned(shared: Shared) -> None:
    """Without the pause a fenced region would abandon a message ten times in milliseconds and
    Service Bus would dead-letter it (MaxDeliveryCount) before the watchdog stops consumption."""
    [message] = published(shared)
    shared.mirrors["DC04"].available = False
    for delivery_count, expected in ((1, 2.0), (4, 8.0), (50, 30.0)):
        with pytest.raises(RegionNotActive):
            shared.runner().handle(replace(message, delivery_count=delivery_count))
        assert shared.clock.slept[-1] == expected
    assert shared.store.get(message.message_id) is None


def test_the_fence_closes_a_guard_before_the_lease_ends(shared: Shared) -> None:
    """The lease has absolute times: a cached or stale mirror cannot stretch it (guard 1 s here)."""
    [message] = published(shared)
    lease = shared.authority.read()
    assert lease is not None
    shared.clock.advance((lease.lease_until - shared.clock.wall()).total_seconds() - 1.0)
    with pytest.raises(RegionNotActive, match="ends at"):
        shared.runner().handle(message)
    assert not shared.target.delivered and shared.store.get(message.message_id) is None


def test_a_take_over_by_an_older_epoch_is_refused(shared: Shared) -> None:
    """DC06 (epoch 2) claimed the message and its claim lease expired; DC04, still fenced open on a
    stale view of epoch 1, may not take it over: StaleEpoch, nothing delivered by DC04."""
    [message] = published(shared)
    old_view = shared.mirrors["DC04"].read()
    shared.activate("DC06")
    claimed = shared.store.claim(
        message_id=message.message_id,
        session_id=message.session_id,
        region="DC06",
        epoch=2,
        delivery_key=delivery_key_for(message.message_id),
        lease_until=shared.clock.wall(),
        wal_name=message.wal_name,
        sequence=message.sequence,
    )
    assert old_view is not None
    shared.mirrors["DC04"].publish(old_view)  # DC04's mirror still shows epoch 1 (a stalled Redis)
    with pytest.raises(StaleEpoch):
        shared.runner().handle(message)
    assert not shared.target.delivered
    assert shared.store.get(message.message_id) == claimed


def _reused_msgid(shared: Shared) -> tuple:
    """One MQ MsgId ingested twice with different bodies (the MQ MsgId was reused upstream)."""
    message_id = "ab" * 24
    shared.mq.put(message_id, b"ACC|first statement")
    shared.queue_builder().run(budget_s=5)
    shared.mq.put(message_id, b"ACC|second statement")
    shared.queue_builder().run(budget_s=5)
    first, second = (
        inbound(OutboundStatement.from_wal(e, shared.wal.read_entry(e.locator)))
        for segment in shared.wal.list()
        for e in shared.wal.read_index(segment.name).entries
    )
    return first, second


def test_a_reused_msgid_is_quarantined_recorded_and_alerted_never_completed_as_a_duplicate(
    shared: Shared,
) -> None:
    first, second = _reused_msgid(shared)
    runner = shared.runner()
    assert runner.handle(first) is Outcome.DELIVERED
    before = metrics.snapshot().get("message_id_reused", 0)
    assert runner.handle(second) is Outcome.FAILED
    assert metrics.snapshot()["message_id_reused"] == before + 1
    derived = f"{second.message_id}-reused-{hashlib.sha256(second.body).hexdigest()[:16]}"
    record = shared.store.get(derived)
    assert record is not None and record.state is RecordState.FAILED and record.reason == "message-id-reused"
    body, metadata = shared.quarantine.items[derived]
    assert body == b"ACC|second statement" and metadata["reason"] == "message-id-reused"
    original = shared.store.get(first.message_id)
    assert original is not None and original.state is RecordState.DELIVERED  # untouched
    assert len(shared.target.delivered) == 1
    assert runner.handle(second) is Outcome.DUPLICATE  # a redelivery of the reused message
    assert runner.handle(first) is Outcome.DUPLICATE  # and of the original: same body, same record
    assert len(shared.quarantine.items) == 1


def test_a_reused_msgid_waits_while_the_other_body_holds_an_abandoned_claim(shared: Shared) -> None:
    first, second = _reused_msgid(shared)
    with pytest.raises(FaultInjected):  # the first body's worker fails after its claim
        shared.runner(around=CrashPoints("runner.after_claim=raise@1")).handle(first)
    shared.clock.advance(60)  # its lease has expired
    with pytest.raises(ClaimHeld):
        shared.runner().handle(second)  # not taken over for another body: retried later
    assert shared.runner().handle(first) is Outcome.DELIVERED
    assert shared.runner().handle(second) is Outcome.FAILED


# -- Cosmos DB write unavailability (shared.breaker) ----------------------------------------------


class OutageClock:
    """Turns the twin's writes back on once the fake clock passes ``until`` (a service failover)."""

    def __init__(self, shared: Shared, seconds: float) -> None:
        self.shared, self.until = shared, shared.clock.now + timedelta(seconds=seconds)
        shared.store.writes_available = False

    def sleep(self, seconds: float) -> None:
        self.shared.clock.sleep(seconds)
        if self.shared.clock.now >= self.until:
            self.shared.store.writes_available = True


def test_a_cosmos_write_outage_longer_than_the_delivery_budget_is_waited_out_in_hand(shared: Shared) -> None:
    """Outage of 300 s > MaxDeliveryCount (10) x the runner's backoff (2..20 s: ~110 s in all)."""
    from shared.breaker import WriteBreaker  # noqa: PLC0415

    first, second = published(shared, 2)
    breaker = WriteBreaker()
    outage = OutageClock(shared, 300)
    runner = shared.runner(sleep=outage.sleep, breaker=breaker, write_hold_s=480, write_hold_step_s=5)
    assert runner.handle(first) is Outcome.DELIVERED  # no exception: never abandoned, count unspent
    assert 300 <= sum(shared.clock.slept) <= 305 and not breaker.is_open
    record = shared.store.get(first.message_id)
    assert record is not None and record.state is RecordState.DELIVERED and record.attempts == 1
    # The outage begins between the delivery and the record: the mark waits, nothing is delivered twice.
    original = shared.target.deliver

    def deliver_then_lose_writes(key, payload, metadata):
        original(key, payload, metadata)
        OutageClock(shared, 120)

    shared.target.deliver = deliver_then_lose_writes  # type: ignore[method-assign]
    assert runner.handle(second) is Outcome.DELIVERED
    assert len(shared.target.delivered) == 2 and set(shared.target.attempts.values()) == {1}
    assert shared.store.get(second.message_id).state is RecordState.DELIVERED  # type: ignore[union-attr]


def test_a_write_outage_beyond_the_hold_gives_the_message_back_once(shared: Shared) -> None:
    from shared.breaker import WriteBreaker  # noqa: PLC0415
    from shared.errors import WritesUnavailable  # noqa: PLC0415

    [message] = published(shared)
    breaker = WriteBreaker()
    shared.store.writes_available = False
    runner = shared.runner(breaker=breaker, write_hold_s=60, write_hold_step_s=5)
    with pytest.raises(WritesUnavailable):
        runner.handle(message)  # after 60 s in hand: abandoned (one delivery count), breaker open
    assert breaker.is_open and 60 <= sum(shared.clock.slept) <= 60 + 30
    shared.store.writes_available = True
    assert runner.handle(replace(message, delivery_count=2)) is Outcome.DELIVERED
    assert not breaker.is_open
