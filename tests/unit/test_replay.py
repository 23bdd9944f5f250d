# mypy: disable-error-code="attr-defined"
# (the twins of these tests are the recording subclasses below; Shared types them as their bases)
"""Replay over WAL segments: ordered, only records without a final record, looked up in batches, in
bounded slices from a durable checkpoint saved per page of segments."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from dev.faults import CrashPoints
from shared.errors import ServiceUnavailable
from shared.model import Checkpoint, OutboundStatement, SegmentInfo, WalLocator, WalSegment
from shared.telemetry import metrics
from tests.twins import (
    InMemoryCheckpointStore,
    InMemoryIdempotencyStore,
    InMemoryPublisher,
    InMemoryWriteAheadLog,
)
from tests.unit.segments import write_segment
from tests.unit.twins import FakeClock, Shared, inbound
from watchdog.replay import WATERMARK, Replayer, activation_walk, straggler_walk

WALK = activation_walk("DC06", 2)


class SlowWal(InMemoryWriteAheadLog):
    """The WAL twin, with every storage call costing ``cost_s`` of the fake clock; calls recorded."""

    def __init__(self, clock: FakeClock, cost_s: float) -> None:
        super().__init__()
        self.clock, self.cost_s = clock, cost_s
        self.listed_after: list[str | None] = []
        self.calls: list[str] = []

    def _cost(self, call: str) -> None:
        self.clock.advance(self.cost_s)
        self.calls.append(call)

    def list(self, after: str | None = None, limit: int | None = None) -> Iterator[SegmentInfo]:
        self._cost("list")
        self.listed_after.append(after)
        return super().list(after=after, limit=limit)

    def read_index(self, name: str) -> WalSegment:
        self._cost("index")
        return super().read_index(name)

    def read_entry(self, locator: WalLocator) -> bytes:
        self._cost("entry")
        return super().read_entry(locator)

    def read_segment(self, name: str) -> tuple[WalSegment, bytes]:
        self._cost("segment")
        return super().read_segment(name)


class CountingStore(InMemoryIdempotencyStore):
    def __init__(self) -> None:
        super().__init__()
        self.lookups: list[int] = []
        self.gets = 0

    def lookup(self, message_ids):
        ids = list(message_ids)
        self.lookups.append(len(ids))
        return super().lookup(ids)

    def get(self, message_id):
        self.gets += 1
        return super().get(message_id)


class RecordingCheckpoints(InMemoryCheckpointStore):
    def __init__(self) -> None:
        super().__init__()
        self.positions: list[tuple[str, str]] = []
        self.fail_next_put = False

    def put(self, checkpoint: Checkpoint) -> None:
        if self.fail_next_put:
            self.fail_next_put = False
            raise ServiceUnavailable("cosmos", "crash before the checkpoint")
        super().put(checkpoint)
        self.positions.append((checkpoint.key, checkpoint.position))


@pytest.fixture
def shared() -> Shared:
    s = Shared()
    s.wal = SlowWal(s.clock, cost_s=0.0)
    s.store = CountingStore()
    s.checkpoints = RecordingCheckpoints()
    s.activate("DC04")
    return s


def replayer(shared: Shared, page_size: int = 2, readers: int = 1) -> Replayer:
    """``readers`` 1: segments one by one, so the fake clock measures them as a sequence."""
    return Replayer(
        wal=shared.wal,
        store=shared.store,
        publisher=shared.publisher,
        checkpoints=shared.checkpoints,
        page_size=page_size,
        readers=readers,
        monotonic=shared.clock.monotonic,
        clock=shared.clock.wall,
    )


def ingest(
    shared: Shared, count: int, start: int = 0, per_segment: int = 2, account: str = "ACC"
) -> list[str]:
    """``count`` statements in segments of ``per_segment``, written and published as the QueueBuilder
    does (ingest order = sequence order); the new segments' names."""
    names = []
    for first in range(start, start + count, per_segment):
        numbers = range(first, min(first + per_segment, start + count))
        sequence = shared.sequences.next(1, len(numbers))
        messages = [(f"{n:048x}", account, f"{account}|statement {n}".encode()) for n in numbers]
        segment = write_segment(shared.wal, messages, at=shared.clock.now, first_sequence=sequence)
        shared.publisher.publish(
            [
                OutboundStatement.from_wal(e, body)
                for e, (_, _, body) in zip(segment.entries, messages, strict=True)
            ]
        )
        names.append(segment.name)
    return names


def lose_service_bus(shared: Shared) -> None:
    shared.publisher.sent.clear()
    shared.publisher._seen.clear()


def deliver(shared: Shared, how_many: int) -> None:
    runner = shared.runner()
    for statement in shared.publisher.sent[:how_many]:
        runner.handle(inbound(statement))


def sequences(shared: Shared) -> list[int]:
    return [s.sequence for s in shared.publisher.sent]


def test_republishes_only_records_without_a_final_record_in_order(shared: Shared) -> None:
    names = ingest(shared, 5)  # segments [1, 2] [3, 4] [5]
    deliver(shared, 3)  # the second segment is final in part
    lose_service_bus(shared)
    result = replayer(shared).run_slice(WALK, budget_s=60)
    assert (result.segments, result.examined, result.republished, result.already_final) == (3, 5, 2, 3)
    assert result.done and sequences(shared) == [4, 5]
    assert result.checkpoint.position == names[-1]
    assert result.checkpoint.final_through == names[0]  # stops before the first segment not all final
    assert shared.checkpoints.get(WATERMARK).final_through == names[0]  # type: ignore[union-attr]


def test_checkpoint_is_saved_after_every_page_and_lookups_are_batched(shared: Shared) -> None:
    names = ingest(shared, 13)  # 7 segments: 6 of two records, then one
    lose_service_bus(shared)
    replayer(shared, page_size=3, readers=2).run_slice(WALK, budget_s=60)
    assert [p for k, p in shared.checkpoints.positions if k == WALK] == [names[2], names[5], names[6]]
    # One lookup per group of two segments (their four records), never one read per record.
    assert shared.store.lookups == [4, 2, 4, 2, 1] and shared.store.gets == 0


def test_a_finished_activation_walk_stays_finished_and_a_new_round_starts_at_the_watermark(
    shared: Shared,
) -> None:
    names = ingest(shared, 4)
    deliver(shared, 4)  # everything final
    assert replayer(shared).run_slice(WALK, budget_s=60).done
    assert replayer(shared).run_slice(WALK, budget_s=60).pages == 0  # once per epoch
    new_names = ingest(shared, 2, start=10, per_segment=1)
    shared.wal.listed_after.clear()
    result = replayer(shared).run_slice(straggler_walk("DC06"), budget_s=60)
    assert shared.wal.listed_after[0] == names[-1]  # from the watermark, not the first segment
    assert result.examined == 2 and [s.wal_name for s in shared.publisher.sent[-2:]] == new_names


def test_a_slice_stops_at_its_budget_and_the_walk_resumes_where_it_stopped(shared: Shared) -> None:
    ingest(shared, 40)  # 20 segments of two records, none final: each one index and one whole read
    lose_service_bus(shared)
    shared.wal.cost_s = 1.0  # every storage call: 1 s (about 50 s of storage calls in all)
    slices: list[Any] = []
    while not (slices and slices[-1].done):
        started = shared.clock.mono
        slices.append(replayer(shared, page_size=5).run_slice(WALK, budget_s=3.0))
        # The budget, overrun by at most one listing and one group (of one segment: two calls).
        assert shared.clock.mono - started <= 3.0 + 3.0
    assert len(slices) >= 12
    assert sequences(shared) == list(range(1, 41))  # each once, in order
    assert sum(s.republished for s in slices) == 40


def test_a_crash_mid_walk_resumes_from_the_last_saved_page_without_loss(shared: Shared) -> None:
    names = ingest(shared, 10, per_segment=1)
    lose_service_bus(shared)
    calls = {"n": 0}
    original = shared.publisher.publish

    def failing_publish(statements):
        calls["n"] += 1
        if calls["n"] == 3:
            raise ServiceUnavailable("servicebus", "crash on the third page")
        original(statements)

    shared.publisher.publish = failing_publish  # type: ignore[method-assign]
    with pytest.raises(ServiceUnavailable):
        replayer(shared).run_slice(WALK, budget_s=60)
    assert shared.checkpoints.get(WALK).position == names[3]  # type: ignore[union-attr]
    shared.publisher.publish = original  # type: ignore[method-assign]
    shared.wal.listed_after.clear()
    assert replayer(shared).run_slice(WALK, budget_s=60).done
    assert shared.wal.listed_after[0] == names[3]  # pages 1-2 are not listed again
    assert [s.wal_name for s in shared.publisher.sent] == names


def test_a_crash_between_publish_and_checkpoint_republishes_that_page_only(shared: Shared) -> None:
    ingest(shared, 6, per_segment=1)
    lose_service_bus(shared)
    shared.checkpoints.fail_next_put = True
    with pytest.raises(ServiceUnavailable):
        replayer(shared).run_slice(WALK, budget_s=60)
    assert sequences(shared) == [1, 2]
    shared.publisher._seen.clear()  # say the duplicate-detection window has passed meanwhile
    assert replayer(shared).run_slice(WALK, budget_s=60).done
    assert sequences(shared) == [1, 2, 1, 2, 3, 4, 5, 6]  # the first page twice
    runner = shared.runner()
    for statement in shared.publisher.sent:
        runner.handle(inbound(statement))
    assert len(shared.target.delivered) == 6 and set(shared.target.attempts.values()) == {1}


def test_the_straggler_walk_ends_at_its_cutoff(shared: Shared) -> None:
    old = ingest(shared, 3)
    shared.clock.advance(600)
    ingest(shared, 2, start=10)
    lose_service_bus(shared)
    cutoff = shared.clock.now - timedelta(seconds=300)
    result = replayer(shared).run_slice(straggler_walk("DC04"), budget_s=60, older_than=cutoff)
    assert result.done and sequences(shared) == [1, 2, 3]
    assert {s.wal_name for s in shared.publisher.sent} == set(old)
    again = replayer(shared).run_slice(straggler_walk("DC04"), budget_s=60, older_than=cutoff, restart=True)
    assert again.examined == 3  # a new round starts again at the watermark (nothing is final yet)


def test_operator_range_replay_moves_no_checkpoint_and_skips_older_segments(shared: Shared) -> None:
    ingest(shared, 2)
    shared.clock.advance(3600)
    ingest(shared, 2, start=5)
    lose_service_bus(shared)
    since = shared.clock.now - timedelta(minutes=5)
    result = replayer(shared).run(since=since)
    assert result.examined == 2 and result.republished == 2 and sequences(shared) == [3, 4]
    assert shared.wal.calls.count("index") == 1  # the segment written before `since` is not read
    first = next(iter(shared.wal.list())).name
    assert replayer(shared).run(after=first).examined == 2
    assert shared.checkpoints.positions == []


def test_a_reused_msgid_record_is_replayed_until_its_own_record_is_final(shared: Shared) -> None:
    """The first body's final record does not cover a WAL record of another body under the same MsgId."""
    message_id = "cd" * 24
    first = write_segment(shared.wal, [(message_id, "ACC", b"ACC|first statement")], at=shared.clock.now)
    shared.runner().handle(inbound(OutboundStatement.from_wal(first.entries[0], b"ACC|first statement")))
    second = write_segment(
        shared.wal, [(message_id, "ACC", b"ACC|second statement")], at=shared.clock.now, first_sequence=2
    )
    result = replayer(shared).run_slice(straggler_walk("DC04"), budget_s=60)
    assert [s.wal_name for s in shared.publisher.sent] == [second.name]
    assert result.checkpoint.final_through == first.name
    shared.runner().handle(inbound(shared.publisher.sent[0]))  # recorded FAILED: message-id-reused
    lose_service_bus(shared)
    again = replayer(shared).run_slice(straggler_walk("DC04"), budget_s=60, restart=True)
    assert again.republished == 0 and again.checkpoint.final_through == second.name


def test_the_cutoff_ends_the_walk_at_the_first_younger_segment_before_older_ones(shared: Shared) -> None:
    """Name order is ingest order, but clocks are not: the walk never examines past a younger segment,
    so the watermark cannot pass it."""
    names = ingest(shared, 3, per_segment=1)
    deliver(shared, 3)
    young, data = shared.wal.read_segment(names[1])
    shared.wal.put_raw(
        names[1], replace(young.info, written_at=young.info.written_at + timedelta(hours=1)), data
    )
    cutoff = shared.clock.now + timedelta(minutes=1)
    result = replayer(shared).run_slice(straggler_walk("DC04"), budget_s=60, older_than=cutoff)
    assert result.done and result.examined == 1
    assert result.checkpoint.final_through == names[0]


def test_parallel_reads_keep_ingest_order(shared: Shared) -> None:
    names = ingest(shared, 50, per_segment=3)
    deliver(shared, 7)
    lose_service_bus(shared)
    result = replayer(shared, page_size=6, readers=4).run_slice(WALK, budget_s=60)
    assert result.done and result.republished == 43 and result.segments == len(names)
    assert sequences(shared) == list(range(8, 51))


def test_a_segment_mostly_needed_is_read_whole_and_a_lone_record_by_range(shared: Shared) -> None:
    ingest(shared, 8, per_segment=4)
    deliver(shared, 3)  # the first segment needs one body of four, the second all four
    lose_service_bus(shared)
    shared.wal.calls.clear()
    assert replayer(shared).run_slice(WALK, budget_s=60).republished == 5
    # A full page (two segments) is followed by one more listing, which finds the end.
    assert shared.wal.calls == ["list", "index", "entry", "index", "segment", "list"]
    assert sequences(shared) == [4, 5, 6, 7, 8]


def test_an_unreadable_segment_is_reported_passed_and_holds_the_watermark(shared: Shared) -> None:
    names = ingest(shared, 3, per_segment=1)
    deliver(shared, 3)
    info = shared.wal.read_index(names[1]).info
    shared.wal.put_raw(names[1], info, b"not a WAL segment")
    lose_service_bus(shared)
    result = replayer(shared).run_slice(WALK, budget_s=60)
    assert result.done and result.checkpoint.position == names[2]
    assert result.checkpoint.final_through == names[0] and result.checkpoint.blocked
    assert metrics.snapshot()["replay_unreadable"] == 1 and not shared.publisher.sent


def test_a_body_that_fails_its_hash_is_reported_and_the_rest_of_its_segment_replayed(shared: Shared) -> None:
    [name] = ingest(shared, 2)
    segment, data = shared.wal.read_segment(name)
    damaged = bytearray(data)
    damaged[segment.entries[0].offset] ^= 0xFF
    shared.wal.put_raw(name, segment.info, bytes(damaged))
    lose_service_bus(shared)
    result = replayer(shared).run_slice(WALK, budget_s=60)
    assert sequences(shared) == [2] and metrics.snapshot()["replay_unreadable"] == 1
    assert result.checkpoint.final_through == "" and result.checkpoint.blocked


def test_the_replay_entry_crash_point_counts_every_body_read(shared: Shared) -> None:
    """``replay.entry`` (dev/faults.py, the drill's slow replay): one hit per storage read (an index,
    a record by range, a segment whole)."""
    ingest(shared, 8, per_segment=4)
    deliver(shared, 3)  # one ranged read (segment 1), one whole read of four records (segment 2)
    lose_service_bus(shared)
    points = CrashPoints("replay.entry=sleep:0")
    wal = points("replay", "wal", shared.wal)
    run = replace(replayer(shared), wal=wal).run_slice(WALK, budget_s=60)
    assert run.republished == 5 and points.hits("replay.entry") == 4  # two indexes, two body reads


class DeletingWal(SlowWal):
    """Retention deletes ``victim`` between the replay's listing and its index read."""

    victim = ""

    def read_index(self, name: str) -> WalSegment:
        if name == self.victim:
            self.delete(name)
        return super().read_index(name)


def test_a_segment_deleted_after_the_listing_counts_as_final(shared: Shared) -> None:
    """Retention deletes only segments whose every record is final (docs/storage.md): one that vanishes
    between the listing and the index read held nothing to replay, and the watermark may pass it."""
    wal = DeletingWal(shared.clock, cost_s=0.0)
    shared.wal = wal
    names = ingest(shared, 3, per_segment=1)
    deliver(shared, 3)
    wal.victim = names[1]
    result = replayer(shared).run_slice(WALK, budget_s=60)
    assert result.done and result.segments == 3 and result.examined == 2 and result.republished == 0
    assert result.checkpoint.final_through == names[2]


def test_a_segment_whose_whole_bytes_disagree_with_its_index_is_reported_not_fatal(shared: Shared) -> None:
    _, second = ingest(shared, 4)
    segment, data = shared.wal.read_segment(second)
    shared.wal.put_raw(second, segment.info, data + b"trailing bytes")  # read_index still works
    lose_service_bus(shared)
    result = replayer(shared).run_slice(WALK, budget_s=60)
    assert result.done and sequences(shared) == [1, 2] and metrics.snapshot()["replay_unreadable"] == 1
    assert result.checkpoint.final_through == "" and result.checkpoint.position == second


class MeasuringPublisher(InMemoryPublisher):
    """The publisher twin, noting the body bytes of each publish call."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def publish(self, statements: list[OutboundStatement]) -> None:
        self.batches.append(sum(len(s.body) for s in statements))
        super().publish(statements)


def test_a_page_holds_at_most_max_page_bytes_of_segments(shared: Shared) -> None:
    """An activation after a region loss: whole segments without a final record. A page reads and holds
    at most ``max_page_bytes`` of them (at least one segment), publishes, checkpoints, goes on."""
    names = []
    for n in range(6):  # six segments of about 3 KB: two records of 1.5 KB each
        body = f"ACC|{n}".encode().ljust(1500, b".")
        segment = write_segment(
            shared.wal,
            [(f"{n:046x}a0", "ACC", body), (f"{n:046x}b0", "ACC", body)],
            at=shared.clock.now,
            first_sequence=1 + 2 * n,
        )
        names.append(segment.name)
    size = max(info.size for info in shared.wal.list())  # indexes differ by a digit or two
    measuring = shared.publisher = MeasuringPublisher()
    walk = replace(replayer(shared, page_size=200, readers=8), publisher=measuring, max_page_bytes=2 * size)
    result = walk.run_slice(WALK, budget_s=60)
    assert result.done and result.republished == 12 and sequences(shared) == list(range(1, 13))
    assert [p for k, p in shared.checkpoints.positions if k == WALK] == [names[1], names[3], names[5]]
    assert measuring.batches == [4 * 1500] * 3  # two segments' bodies per publish, never more
    lose_service_bus(shared)
    measuring.batches.clear()
    assert walk.run(after="").republished == 12 and measuring.batches == [4 * 1500] * 3  # the operator's too
