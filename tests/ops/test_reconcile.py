"""Reconciliation and trace on twins: each category is found from the durable records alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.model import WalEntry, delivery_key_for, reused_message_id
from shared.telemetry import metrics
from tests.twins import InMemoryDeliveryTarget, InMemoryIdempotencyStore, InMemoryWriteAheadLog
from tests.twins.journal import InMemoryOperationsJournal
from tests.unit.segments import write_segment
from watchdog.reconcile import LATEST, Reconciler
from watchdog.trace import Tracer

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class Region:
    """WAL, records and target of one test, and a reconciler whose clock is ``NOW``."""

    def __init__(self, can_tell: bool = True) -> None:
        self.wal = InMemoryWriteAheadLog()
        self.store = InMemoryIdempotencyStore()
        self.target = InMemoryDeliveryTarget(can_tell=can_tell)
        self.journal = InMemoryOperationsJournal()
        self.reconciler = Reconciler(
            "DC04", self.wal, self.store, self.target, self.journal, 900.0, clock=lambda: NOW
        )
        self.sequence = 0

    def ingest(self, message_id: str, account: str = "CH93ACC", minutes_ago: float = 60) -> WalEntry:
        """One statement, ingested ``minutes_ago`` in a segment of its own."""
        self.sequence += 1
        at = NOW - timedelta(minutes=minutes_ago)
        body = f"{account}|{message_id}".encode()
        segment = write_segment(self.wal, [(message_id, account, body)], at=at, first_sequence=self.sequence)
        return segment.entries[0]

    def claim(self, entry: WalEntry, lease_minutes: float = 1, message_id: str = "") -> object:
        return self.store.claim(
            message_id=message_id or entry.message_id,
            session_id=entry.session_id,
            region="DC04",
            epoch=1,
            delivery_key=delivery_key_for(entry.message_id),
            lease_until=NOW + timedelta(minutes=lease_minutes),
            wal_name=entry.segment,
            sequence=entry.sequence,
            body_sha256=entry.sha256,
        )

    def deliver(self, entry: WalEntry, to_target: bool = True) -> None:
        record = self.claim(entry)
        if to_target:
            self.target.deliver(delivery_key_for(entry.message_id), b"MT950", {})
        self.store.mark_delivered(record, {"pages": "1"})  # type: ignore[arg-type]


def test_every_category_is_found() -> None:
    region = Region()
    ok = region.ingest("m1")
    region.deliver(ok)
    region.ingest("m2")  # taken off MQ an hour ago, never claimed: stuck
    region.ingest("m3", minutes_ago=5)  # recent and unclaimed: in flight, not stuck yet
    failed = region.ingest("m4")
    region.store.mark_failed(region.claim(failed), "unbalanced", {"error": "CLBD differs"})  # type: ignore[arg-type]
    doubt = region.ingest("m5")
    region.claim(doubt, lease_minutes=-1)  # a PENDING claim whose lease expired: in doubt, and stuck
    redelivered = region.ingest("m6")
    first = region.claim(redelivered, lease_minutes=-1)
    again = region.store.take_over(first, region="DC06", epoch=2, lease_until=NOW)  # type: ignore[arg-type]
    region.target.deliver(delivery_key_for("m6"), b"MT950", {})
    region.store.mark_delivered(again, {"pages": "1"})
    lost = region.ingest("m7")
    region.deliver(lost, to_target=False)  # recorded DELIVERED, but the target has no such delivery

    report = region.reconciler.report(NOW - timedelta(days=1), NOW)
    counts = report["counts"]
    assert counts == {
        "taken_off_mq": 7,
        "delivered": 3,
        "verified_at_target": 2,
        "target_cannot_tell": 0,
        "stuck": 2,
        "unreadable_wal": 0,
        "failed": 1,
        "in_doubt": 1,
        "redelivered": 1,
        "missing_at_target": 1,
        "out_of_order": 0,
        "operator_actions": 0,
    }

    def ids(key: str) -> list[str]:
        return [row["message_id"] for row in report[key]]  # type: ignore[attr-defined]

    assert ids("stuck") == ["m2", "m5"] and ids("in_doubt") == ["m5"] and ids("redelivered") == ["m6"]
    assert ids("missing_at_target") == ["m7"]
    assert report["failed"] == [
        {
            "message_id": "m4",
            "account": "***3ACC",
            "ingested_at": (NOW - timedelta(minutes=60)).isoformat(),
            "position": "1/4",
            "state": "FAILED",
            "region": "DC04",
            "policy": None,
            "reason": "unbalanced",
            "quarantine": "quarantine/m4",
        }
    ]


def test_a_target_that_cannot_tell_is_counted_not_guessed() -> None:
    region = Region(can_tell=False)
    region.deliver(region.ingest("m1"))
    counts = region.reconciler.report(NOW - timedelta(days=1), NOW)["counts"]
    assert counts["target_cannot_tell"] == 1 and counts["missing_at_target"] == 0  # type: ignore[index]


def test_out_of_order_delivery_of_an_account_is_found() -> None:
    region = Region()
    early, late, other = region.ingest("m1", "ACC1"), region.ingest("m2", "ACC1"), region.ingest("m3", "ACC2")
    region.deliver(late)  # delivered before the statement ingested before it
    region.deliver(early)
    region.deliver(other)
    report = region.reconciler.report(NOW - timedelta(days=1), NOW)
    inversion: dict[str, object]
    [inversion] = report["out_of_order"]  # type: ignore[misc]
    # m2 was ingested after m1 but recorded delivered before it
    assert inversion["message_id"] == "m2" and inversion["delivered_before"] == "m1"


def test_the_window_is_respected_and_older_segments_are_not_read() -> None:
    region = Region()
    old = region.ingest("old", minutes_ago=3 * 24 * 60)
    region.ingest("in", minutes_ago=60)
    region.wal.put_raw(old.segment, region.wal.read_index(old.segment).info, b"unread: not a segment")
    report = region.reconciler.report(NOW - timedelta(hours=2), NOW)
    assert report["counts"]["taken_off_mq"] == 1  # type: ignore[index]
    assert [row["message_id"] for row in report["stuck"]] == ["in"]  # type: ignore[attr-defined]


def test_run_stores_the_report_and_publishes_the_summary(caplog: pytest.LogCaptureFixture) -> None:
    region = Region()
    region.ingest("m1")
    report = region.reconciler.run(NOW - timedelta(days=1), NOW)
    assert report["stored_as"] == "reports/reconciliation/20261126T120000-DC04.json"
    stored = region.journal.read(str(report["stored_as"]))
    latest = region.journal.read(LATEST)
    assert stored is not None and latest is not None and stored[0] == latest[0]
    assert stored[0]["counts"]["stuck"] == 1  # type: ignore[index]
    assert metrics.snapshot()["reconcile_stuck"] == 1.0
    [event] = [r for r in caplog.records if r.getMessage().startswith("reconcile.report")]
    assert event.levelname == "ERROR" and event.stuck == 1  # type: ignore[attr-defined]


def test_trace_of_an_unknown_id_and_of_one_without_a_record() -> None:
    region = Region()
    tracer = Tracer(region.wal, region.store, region.journal, clock=lambda: NOW)
    assert tracer.trace("nope") == {"message_id": "nope", "found": False, "state": "UNKNOWN", "steps": []}
    stuck = region.ingest("stuck")  # taken off MQ, never claimed: found in the WAL by its id
    unclaimed = tracer.trace("stuck")
    assert unclaimed["state"] == "NO-RECORD" and unclaimed["steps"][0]["wal"] == f"wal/{stuck.segment}"  # type: ignore[index]
    entry = region.ingest("m1")
    record = region.claim(entry, lease_minutes=-1)
    again = region.store.take_over(record, region="DC06", epoch=2, lease_until=NOW)  # type: ignore[arg-type]
    trace = tracer.trace("m1")
    steps = {step["step"]: step for step in trace["steps"]}  # type: ignore[attr-defined]
    assert trace["state"] == "PENDING" and steps["redelivered"]["attempts"] == again.attempts == 2
    assert steps["ingested"]["wal"] == f"wal/{entry.segment}" and steps["claim"]["region"] == "DC06"


def test_an_unreadable_segment_in_the_window_is_reported_and_the_rest_reconciled() -> None:
    region = Region()
    region.deliver(region.ingest("m1"))
    damaged = region.ingest("m2")
    region.deliver(region.ingest("m3"))
    region.wal.put_raw(damaged.segment, region.wal.read_index(damaged.segment).info, b"not a segment")
    report = region.reconciler.run(NOW - timedelta(days=1), NOW)
    counts = report["counts"]
    assert counts["taken_off_mq"] == 2 and counts["verified_at_target"] == 2  # type: ignore[index]
    assert counts["unreadable_wal"] == 1  # type: ignore[index]
    row: dict[str, str]
    [row] = report["unreadable_wal"]  # type: ignore[misc]
    assert row["segment"] == damaged.segment and "no WAL segment header" in row["error"]
    assert metrics.snapshot()["reconcile_unreadable_wal"] == 1.0


def test_a_reused_msgid_is_reconciled_under_its_own_record() -> None:
    """Two WAL records under one MQ MsgId with different bodies: the second is recorded under its derived
    id (shared.wal_records), so it is reported FAILED (quarantined there), not as a second delivery."""
    region = Region()
    first = region.ingest("m1")
    region.deliver(first)
    region.sequence += 1
    second = write_segment(
        region.wal,
        [("m1", "CH93ACC", b"CH93ACC|another body")],
        at=NOW - timedelta(minutes=50),
        first_sequence=region.sequence,
    ).entries[0]
    derived = reused_message_id("m1", second.sha256)
    region.store.mark_failed(region.claim(second, message_id=derived), "message-id-reused", {})  # type: ignore[arg-type]
    report = region.reconciler.report(NOW - timedelta(days=1), NOW)
    counts = report["counts"]
    assert (counts["taken_off_mq"], counts["delivered"], counts["failed"], counts["stuck"]) == (2, 1, 1, 0)  # type: ignore[index]
    assert counts["verified_at_target"] == 1  # type: ignore[index]
    failed: dict[str, object]
    [failed] = report["failed"]  # type: ignore[misc]
    assert failed["quarantine"] == f"quarantine/{derived}" and failed["reason"] == "message-id-reused"
