"""WAL retention on the twins (watchdog/retention.py, shared/retention.py; docs/storage.md#retention).

Two regions' WAL twins hold the same segments (as the dual write leaves them); one Cosmos twin holds
the records both regions read. Each region runs its own :class:`Retention` on its own twin, as each
region's Watchdog does on its own storage account. Time: the records' ``updated_at`` is the twin's
wall clock (``T0`` ± the test's run time); the retention's clock is set days after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import ConfigurationError, ServiceUnavailable
from shared.model import RecordState, SegmentInfo, delivery_key_for, reused_message_id, segment_name
from shared.retention import DELETE, IN_FLIGHT, NOT_FINAL, YOUNG, RetentionPolicy
from shared.settings import Settings
from shared.wal_segment import SegmentInput, UnreadableWalEntry, encode
from tests.twins import (
    InMemoryCheckpointStore,
    InMemoryConsumptionSwitch,
    InMemoryGateMirror,
    InMemoryHeartbeats,
    InMemoryIdempotencyStore,
    InMemoryPublisher,
    InMemoryRegionAuthority,
    InMemoryWriteAheadLog,
)
from watchdog.controller import Watchdog
from watchdog.operator import OperatorApi
from watchdog.replay import Replayer
from watchdog.retention import GONE, UNREADABLE, Retention, RetentionResult

T0 = datetime.now(UTC)
POLICY = RetentionPolicy(message_ttl_days=14, dead_letter_days=30, audit_horizon_days=400)


class FlakyDeleteWal(InMemoryWriteAheadLog):
    """A region whose storage refuses the next ``failures`` deletes (lists and reads still work)."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 0

    def delete(self, name: str) -> None:
        if self.failures:
            self.failures -= 1
            raise ServiceUnavailable("blob", "delete refused (test)")
        super().delete(name)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return (self.now - T0).total_seconds()


@dataclass
class Bridge:
    """Both regions' WAL copies, the shared records and checkpoints, each region's retention."""

    wals: dict[str, FlakyDeleteWal]
    store: InMemoryIdempotencyStore
    retention: dict[str, Retention]
    clock: Clock

    def write(
        self, sequence: int, *ids: str, age_days: float = 420, bodies: list[bytes] | None = None
    ) -> str:
        """One segment (records ``ids``) written ``age_days`` before ``T0`` to both regions."""
        name = segment_name(1, sequence, "DC04", f"u{sequence}")
        inputs = [
            SegmentInput(mid, "ACCOUNT-1", sequence + i, T0, (bodies or [])[i] if bodies else mid.encode())
            for i, mid in enumerate(ids)
        ]
        segment, data = encode(name, "DC04", 1, T0 - timedelta(days=age_days), inputs)
        for wal in self.wals.values():
            wal.append(segment, data)
        return name

    def record(self, message_id: str, state: RecordState, body: bytes | None = None) -> None:
        record = self.store.claim(
            message_id=message_id,
            session_id="ACCOUNT-1",
            region="DC04",
            epoch=1,
            delivery_key=delivery_key_for(message_id),
            lease_until=T0 + timedelta(minutes=1),
            wal_name="",
            sequence=1,
            body_sha256=hashlib.sha256(body or message_id.encode()).hexdigest(),
        )
        if state is RecordState.DELIVERED:
            self.store.mark_delivered(record, {})
        elif state is RecordState.FAILED:
            self.store.mark_failed(record, "translation-failed", {})

    def names(self, region: str) -> list[str]:
        return [info.name for info in self.wals[region].list()]

    def run(self, region: str, days_after_t0: float) -> dict[str, int]:
        self.clock.now = T0 + timedelta(days=days_after_t0)
        result = self.retention[region].run_slice()
        assert result.error is None, result.error
        return result.counts


@pytest.fixture
def bridge() -> Bridge:
    wals = {"DC04": FlakyDeleteWal(), "DC06": FlakyDeleteWal()}
    store, checkpoints, clock = InMemoryIdempotencyStore(), InMemoryCheckpointStore(), Clock(T0)
    retention = {
        region: Retention(
            region,
            wal,
            store,
            checkpoints,
            POLICY,
            page_size=50,
            interval_s=3600,
            clock=clock,
            monotonic=clock.monotonic,
        )
        for region, wal in wals.items()
    }
    return Bridge(wals, store, retention, clock)


def test_old_and_all_final_is_deleted_in_both_regions(bridge: Bridge) -> None:
    name = bridge.write(1, "m1", "m2")
    bridge.record("m1", RecordState.DELIVERED)
    bridge.record("m2", RecordState.FAILED)
    assert bridge.run("DC04", 45) == {DELETE: 1}
    assert bridge.names("DC04") == [] and bridge.names("DC06") == [name]  # each region its own copy
    assert bridge.run("DC06", 45) == {DELETE: 1}
    assert bridge.names("DC06") == []


def test_a_segment_with_a_non_final_record_is_kept(bridge: Bridge, caplog: pytest.LogCaptureFixture) -> None:
    pending = bridge.write(1, "p1", "p2")
    bridge.record("p1", RecordState.DELIVERED)
    bridge.record("p2", RecordState.PENDING)
    unrecorded = bridge.write(3, "u1")  # never claimed: replay would republish it
    final = bridge.write(4, "f1")
    bridge.record("f1", RecordState.DELIVERED)
    for region in ("DC04", "DC06"):
        assert bridge.run(region, 1000) == {NOT_FINAL: 2, DELETE: 1}
        assert bridge.names(region) == [pending, unrecorded]
    assert final not in bridge.names("DC04") + bridge.names("DC06")
    warned = [r for r in caplog.records if getattr(r, "event", "") == "wal.segment_not_final"]
    assert [(r.segment, r.not_final) for r in warned] == [(pending, 1), (unrecorded, 1)] * 2  # type: ignore[attr-defined]


def test_too_young_is_kept_and_ends_the_pass(bridge: Bridge) -> None:
    young = bridge.write(1, "y1", age_days=10)
    later = bridge.write(2, "y2", age_days=5)
    for mid in ("y1", "y2"):
        bridge.record(mid, RecordState.DELIVERED)
    result_counts = bridge.run("DC04", 389)  # 399 days old: one day short of the horizon
    assert result_counts == {}  # the first young segment ends the pass: nothing after it examined
    assert bridge.names("DC04") == [young, later]
    assert bridge.run("DC04", 391) == {
        DELETE: 1
    }  # the next pass, two days later  # y1 is 401 days old, y2 396
    assert bridge.names("DC04") == [later]


def test_kept_for_ttl_plus_dead_letter_window_after_its_last_record_became_final(bridge: Bridge) -> None:
    """Written 420 days ago (past the horizon) but final only now: a message published while it was
    not final may still be in Service Bus or in a dead-letter queue for TTL + window."""
    name = bridge.write(1, "late", age_days=420)
    bridge.record("late", RecordState.DELIVERED)
    assert bridge.run("DC04", 43) == {IN_FLIGHT: 1}
    assert bridge.names("DC04") == [name]
    assert bridge.run("DC04", 44.01) == {DELETE: 1}


def test_a_failing_regions_delete_is_retried_next_time_never_lost(bridge: Bridge) -> None:
    first = bridge.write(1, "a")
    second = bridge.write(2, "b")
    bridge.record("a", RecordState.DELIVERED)
    bridge.record("b", RecordState.DELIVERED)
    bridge.wals["DC06"].failures = 1
    assert bridge.run("DC04", 45) == {DELETE: 2}
    bridge.clock.now = T0 + timedelta(days=45)
    failed = bridge.retention["DC06"].run_slice()
    assert failed.error is not None and "delete refused" in failed.error
    assert not failed.done and failed.position == ""  # the cursor stays before the failed segment
    assert bridge.names("DC06") == [first, second]
    assert bridge.run("DC06", 45) == {DELETE: 2}  # the next tick: both go, nothing skipped
    assert bridge.names("DC06") == []


def test_a_region_whose_storage_is_down_deletes_nothing_then_catches_up(bridge: Bridge) -> None:
    name = bridge.write(1, "a")
    bridge.record("a", RecordState.DELIVERED)
    bridge.wals["DC06"].available = False
    bridge.clock.now = T0 + timedelta(days=45)
    assert bridge.retention["DC06"].run_slice().error is not None
    bridge.wals["DC06"].available = True
    assert bridge.names("DC06") == [name]
    assert bridge.run("DC06", 46) == {DELETE: 1}


def test_records_unreadable_deletes_nothing(bridge: Bridge) -> None:
    name = bridge.write(1, "a")
    bridge.record("a", RecordState.DELIVERED)
    bridge.store.available = False
    bridge.clock.now = T0 + timedelta(days=45)
    assert bridge.retention["DC04"].run_slice().error is not None
    assert bridge.names("DC04") == [name]


def test_a_reused_msgid_is_judged_by_the_records_own_body(bridge: Bridge) -> None:
    """The MsgId's record was claimed for another body (DELIVERED); this body's record is under the
    derived id and still PENDING: the segment is kept until that one is final."""
    body = b"the second statement under a reused MsgId"
    name = bridge.write(1, "r1", bodies=[body])
    bridge.record("r1", RecordState.DELIVERED, body=b"the first statement")
    derived = reused_message_id("r1", hashlib.sha256(body).hexdigest())
    bridge.record(derived, RecordState.PENDING, body=body)
    assert bridge.run("DC04", 1000) == {NOT_FINAL: 1}
    assert bridge.names("DC04") == [name]
    record = bridge.store.get(derived)
    assert record is not None
    bridge.store.mark_failed(record, "message-id-reused", {})
    assert bridge.run("DC04", 1045) == {DELETE: 1}


def test_bounded_slices_from_a_durable_cursor_then_idle_until_the_next_pass(bridge: Bridge) -> None:
    for n in range(1, 6):
        bridge.write(n, f"m{n}")
        bridge.record(f"m{n}", RecordState.DELIVERED)
    retention = bridge.retention["DC04"]
    retention.page_size = 2
    assert bridge.run("DC04", 45) == {DELETE: 2}
    assert bridge.run("DC04", 45) == {DELETE: 2}
    assert bridge.run("DC04", 45) == {DELETE: 1}  # short page: the pass is done
    assert bridge.names("DC04") == []
    bridge.write(9, "m9")
    bridge.record("m9", RecordState.DELIVERED)
    bridge.clock.now = T0 + timedelta(days=45)
    assert retention.run_slice().idle  # interval_s (1 h) not over: no listing, no lookup
    restarted = Retention(
        "DC04", bridge.wals["DC04"], bridge.store, retention.checkpoints, POLICY, clock=bridge.clock
    )
    assert restarted.run_slice().idle  # a restarted Watchdog reads the cursor: idle by its time too
    assert bridge.run("DC04", 45 + 2 / 24) == {DELETE: 1}


def test_an_unreadable_segment_is_never_deleted_and_the_pass_goes_on(bridge: Bridge) -> None:
    info = SegmentInfo(
        "0000000001/000000000001-DC04-bad", "DC04", 1, 1, 1, 1, 10, 5, T0 - timedelta(days=900)
    )
    bridge.wals["DC04"].put_raw(info.name, info, b"not a segment")
    later = bridge.write(2, "ok")
    bridge.record("ok", RecordState.DELIVERED)
    assert bridge.run("DC04", 45) == {UNREADABLE: 1, DELETE: 1}
    assert bridge.names("DC04") == [info.name]
    assert later not in bridge.names("DC04")


def test_a_segment_gone_since_the_listing_counts_as_gone(bridge: Bridge) -> None:
    name = bridge.write(1, "a")
    bridge.record("a", RecordState.DELIVERED)
    retention = bridge.retention["DC04"]
    [info] = list(bridge.wals["DC04"].list())
    bridge.wals["DC04"].delete(name)
    assert retention._examine(info, T0 + timedelta(days=45)) == GONE


def test_the_policy_verdicts() -> None:
    info = SegmentInfo("s", "DC04", 1, 1, 1, 1, 10, 5, T0)
    assert POLICY.verdict(info, [], T0 + timedelta(days=399)) == YOUNG
    assert POLICY.verdict(info, [None], T0 + timedelta(days=401)) == NOT_FINAL


def test_a_horizon_shorter_than_ttl_plus_dead_letter_window_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as error:
        RetentionPolicy(message_ttl_days=14, dead_letter_days=30, audit_horizon_days=30)
    assert "WAL_AUDIT_HORIZON_DAYS (30) must be at least" in str(error.value)


def test_the_settings_refuse_a_horizon_shorter_than_ttl_plus_dead_letter_window() -> None:
    env = {
        "BRIDGE_REGION": "DC04",
        "ServiceBusConnection": "x",
        "WalStorageDC04": "x",
        "WalStorageDC06": "x",
        "CosmosConnection": "x",
        "RedisConnection": "x",
    }
    assert Settings.from_mapping(env).retention_policy == POLICY  # the defaults
    with pytest.raises(ConfigurationError) as error:
        Settings.from_mapping({**env, "WAL_AUDIT_HORIZON_DAYS": "40", "DEAD_LETTER_WINDOW_DAYS": "30"})
    assert "WAL_AUDIT_HORIZON_DAYS (40) must be at least SERVICE_BUS_MESSAGE_TTL_DAYS (14)" in str(
        error.value
    )


# -- driven by the Watchdog -------------------------------------------------------------------------


class CountingRetention(Retention):
    """Counts the slices the Watchdog asks for (and can be told to blow up)."""

    slices: int = 0
    explode: bool = False

    def run_slice(self) -> RetentionResult:
        self.slices += 1
        if self.explode:
            raise RuntimeError("a bug in the retention")
        return super().run_slice()


def _watchdog(bridge: Bridge, region: str, authority: InMemoryRegionAuthority) -> Watchdog:
    base = bridge.retention[region]
    retention = CountingRetention(
        region,
        base.wal,
        bridge.store,
        base.checkpoints,
        POLICY,
        clock=bridge.clock,
        monotonic=bridge.clock.monotonic,
    )
    heartbeats = InMemoryHeartbeats()
    return Watchdog(
        region=region,
        authority=authority,
        mirror=InMemoryGateMirror(),
        checkpoints=base.checkpoints,
        heartbeats=heartbeats,
        switch=InMemoryConsumptionSwitch(),
        replayer=Replayer(bridge.wals[region], bridge.store, InMemoryPublisher(), base.checkpoints),
        probes={"blob": lambda: "ok"},
        retention=retention,
        clock=bridge.clock,
    )


def test_the_passive_regions_watchdog_deletes_its_own_copy_each_steady_tick(bridge: Bridge) -> None:
    name = bridge.write(1, "a")
    bridge.record("a", RecordState.DELIVERED)
    authority = InMemoryRegionAuthority()
    bridge.clock.now = T0 + timedelta(days=45)
    authority.initialise("DC04", 60, bridge.clock.now)  # DC04 holds the lease: DC06 is passive
    watchdog = _watchdog(bridge, "DC06", authority)
    assert watchdog.tick()["action"] == "passive"
    assert bridge.names("DC06") == [] and bridge.names("DC04") == [name]
    assert watchdog.retention is not None and watchdog.retention.slices == 1  # type: ignore[attr-defined]


def test_no_retention_while_a_promotion_is_being_decided(bridge: Bridge) -> None:
    name = bridge.write(1, "a")
    bridge.record("a", RecordState.DELIVERED)
    authority = InMemoryRegionAuthority()
    authority.initialise("DC04", 60, T0)
    bridge.clock.now = T0 + timedelta(days=45)  # DC04's lease ended long ago
    watchdog = _watchdog(bridge, "DC06", authority)
    watchdog.misses_required = 3
    assert watchdog.tick()["action"] != "passive"  # counting misses towards a promotion
    assert bridge.names("DC06") == [name]
    assert watchdog.retention is not None and watchdog.retention.slices == 0  # type: ignore[attr-defined]


def test_a_retention_bug_never_stops_the_control_loop(bridge: Bridge) -> None:
    authority = InMemoryRegionAuthority()
    authority.initialise("DC04", 60, T0)
    watchdog = _watchdog(bridge, "DC06", authority)
    retention = watchdog.retention
    assert isinstance(retention, CountingRetention)
    retention.explode = True
    assert watchdog.tick()["action"] == "passive"
    assert watchdog.heartbeats.last("DC06", "watchdog") is not None  # the beat happened


def test_a_slice_stops_at_its_time_budget_and_the_next_goes_on(bridge: Bridge) -> None:
    for n in range(1, 5):
        bridge.write(n, f"m{n}")
        bridge.record(f"m{n}", RecordState.DELIVERED)
    ticks = iter(range(1000))
    retention = bridge.retention["DC04"]
    retention.monotonic = lambda: float(next(ticks))  # each reading of the clock a second later
    retention.budget_s = 1.5
    bridge.clock.now = T0 + timedelta(days=45)
    first = retention.run_slice()
    assert first.counts == {DELETE: 2} and not first.done  # the budget ran out after two segments
    assert retention.run_slice().counts == {DELETE: 2}
    assert bridge.names("DC04") == []


def test_the_status_route_shows_each_regions_retention_cursor(bridge: Bridge) -> None:
    bridge.write(1, "a")
    bridge.record("a", RecordState.DELIVERED)
    authority = InMemoryRegionAuthority()
    bridge.clock.now = T0 + timedelta(days=45)
    authority.initialise("DC04", 60, bridge.clock.now)
    watchdog = _watchdog(bridge, "DC06", authority)
    watchdog.tick()  # one retention slice: the pass ends (one segment), cursor saved as done
    api = OperatorApi(
        region="DC06",
        authority=authority,
        checkpoints=watchdog.checkpoints,
        heartbeats=watchdog.heartbeats,
        watchdog=watchdog,
        replayer=watchdog.replayer,
        backlog=dict,
        record_counts=bridge.store.counts,
        clock=bridge.clock,
    )
    regions = api.status()[1]["regions"]
    assert isinstance(regions, dict)
    assert regions["DC06"]["wal_retention"] == {
        "key": "retention:DC06",
        "position": "",
        "at": bridge.clock.now.isoformat(),
        "final_through": "",
        "blocked": False,
        "done": True,
    }
    assert regions["DC04"]["wal_retention"] is None  # DC04's Watchdog has not run one yet


class ForeignBlobWal(FlakyDeleteWal):
    """A WAL whose listing meets a blob that is not a segment (no segment metadata), as the Blob
    adapter's listing does: it raises ``UnreadableWalEntry`` naming that blob."""

    foreign = "0000000001/000000000002-DC04-foreign"

    def list(self, after: str | None = None, limit: int | None = None) -> Iterator[SegmentInfo]:
        for info in super().list(after, limit):
            if (after is None or after < self.foreign) and info.name > self.foreign:
                raise UnreadableWalEntry(self.foreign, "no WAL segment metadata")
            yield info


def test_a_foreign_blob_in_the_listing_is_passed_never_deleted(bridge: Bridge) -> None:
    wal = ForeignBlobWal()
    bridge.wals["DC04"] = wal
    bridge.retention["DC04"].wal = wal
    first = bridge.write(1, "a")
    later = bridge.write(3, "b")
    for mid in ("a", "b"):
        bridge.record(mid, RecordState.DELIVERED)

    def stored() -> list[str]:
        return [info.name for info in InMemoryWriteAheadLog.list(wal)]

    assert bridge.run("DC04", 45) == {DELETE: 1, UNREADABLE: 1}  # up to the foreign blob, then past it
    assert stored() == [later] and first not in stored()
    assert bridge.run("DC04", 45) == {DELETE: 1}  # the next slice lists after it
    assert stored() == []
