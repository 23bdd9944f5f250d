# mypy: disable-error-code="attr-defined"
# (the twins of these tests are the recording subclasses below; Shared types them as their bases)
"""Replay: ordered, only entries without a final record, in bounded slices from a durable checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from shared.errors import ServiceUnavailable
from shared.model import Checkpoint, WalEntry
from tests.twins import InMemoryCheckpointStore, InMemoryIdempotencyStore, InMemoryWriteAheadLog
from tests.unit.twins import FakeClock, Shared, inbound, put_statements
from watchdog.replay import WATERMARK, Replayer, activation_walk, straggler_walk

WALK = activation_walk("DC06", 2)


class SlowWal(InMemoryWriteAheadLog):
    """The WAL twin, with every list and read costing ``cost_s`` of the fake clock; calls recorded."""

    def __init__(self, clock: FakeClock, cost_s: float) -> None:
        super().__init__()
        self.clock, self.cost_s = clock, cost_s
        self.listed_after: list[str | None] = []

    def list(self, after: str | None = None, limit: int | None = None) -> Iterator[WalEntry]:
        self.clock.advance(self.cost_s)
        self.listed_after.append(after)
        return super().list(after=after, limit=limit)

    def read(self, name: str) -> tuple[WalEntry, bytes]:
        self.clock.advance(self.cost_s)
        return super().read(name)


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
    """``readers`` 1: body reads one by one, so the fake clock measures them as a sequence."""
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


def ingest(shared: Shared, count: int, start: int = 0) -> list[str]:
    put_statements(shared, count, start=start)
    shared.queue_builder().run(budget_s=5)
    return [entry.name for entry in shared.wal.list()]


def lose_service_bus(shared: Shared) -> None:
    shared.publisher.sent.clear()
    shared.publisher._seen.clear()


def deliver(shared: Shared, how_many: int) -> None:
    runner = shared.runner()
    for statement in shared.publisher.sent[:how_many]:
        runner.handle(inbound(statement))


def test_republishes_only_entries_without_a_final_record_in_order(shared: Shared) -> None:
    names = ingest(shared, 5)
    deliver(shared, 2)
    lose_service_bus(shared)
    result = replayer(shared).run_slice(WALK, budget_s=60)
    assert (result.examined, result.republished, result.already_final, result.done) == (5, 3, 2, True)
    assert [s.sequence for s in shared.publisher.sent] == [3, 4, 5]
    assert result.checkpoint.position == names[-1]
    assert result.checkpoint.final_through == names[1]  # stops before the first non-final entry
    assert shared.checkpoints.get(WATERMARK).final_through == names[1]  # type: ignore[union-attr]


def test_checkpoint_is_saved_after_every_page_and_lookups_are_batched(shared: Shared) -> None:
    names = ingest(shared, 7)
    lose_service_bus(shared)
    replayer(shared, page_size=3).run_slice(WALK, budget_s=60)
    assert [p for k, p in shared.checkpoints.positions if k == WALK] == [names[2], names[5], names[6]]
    assert shared.store.lookups == [3, 3, 1]  # one lookup per page, never one read per entry
    assert shared.store.gets == 0


def test_a_finished_activation_walk_stays_finished_and_a_new_round_starts_at_the_watermark(
    shared: Shared,
) -> None:
    names = ingest(shared, 4)
    deliver(shared, 4)  # everything final
    assert replayer(shared).run_slice(WALK, budget_s=60).done
    assert replayer(shared).run_slice(WALK, budget_s=60).pages == 0  # once per epoch
    new_names = ingest(shared, 2, start=10)[4:]
    shared.wal.listed_after.clear()
    walk = straggler_walk("DC06")
    result = replayer(shared).run_slice(walk, budget_s=60)
    assert shared.wal.listed_after[0] == names[-1]  # from the watermark, not the first blob
    assert result.examined == 2 and [s.wal_name for s in shared.publisher.sent[-2:]] == new_names


def test_a_slice_stops_at_its_budget_and_the_walk_resumes_where_it_stopped(shared: Shared) -> None:
    names = ingest(shared, 40)
    lose_service_bus(shared)
    shared.wal.cost_s = 1.0  # every list and every body read: 1 s (81 s of storage calls in all)
    slices: list[Any] = []
    while not (slices and slices[-1].done):
        started = shared.clock.mono
        slices.append(replayer(shared, page_size=5).run_slice(WALK, budget_s=3.0))
        assert shared.clock.mono - started <= 3.0 + 1.0  # the budget, overrun by one call at most
    assert len(slices) >= 20  # 81 s of work in slices of 3 s
    assert [s.wal_name for s in shared.publisher.sent] == names  # each once, in order
    assert sum(s.republished for s in slices) == 40


def test_a_crash_mid_walk_resumes_from_the_last_saved_page_without_loss(shared: Shared) -> None:
    names = ingest(shared, 10)
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
    names = ingest(shared, 6)
    lose_service_bus(shared)
    shared.checkpoints.fail_next_put = True
    with pytest.raises(ServiceUnavailable):
        replayer(shared).run_slice(WALK, budget_s=60)
    assert [s.wal_name for s in shared.publisher.sent] == names[:2]
    shared.publisher._seen.clear()  # say the duplicate-detection window has passed meanwhile
    assert replayer(shared).run_slice(WALK, budget_s=60).done
    assert [s.wal_name for s in shared.publisher.sent] == names[:2] + names  # the first page twice
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
    assert result.done and [s.wal_name for s in shared.publisher.sent] == old
    again = replayer(shared).run_slice(straggler_walk("DC04"), budget_s=60, older_than=cutoff, restart=True)
    assert again.examined == 3  # a new round starts again at the watermark (nothing is final yet)


def test_operator_range_replay_moves_no_checkpoint(shared: Shared) -> None:
    ingest(shared, 2)
    shared.clock.advance(3600)
    ingest(shared, 2, start=5)
    lose_service_bus(shared)
    since = shared.clock.now - timedelta(minutes=5)
    result = replayer(shared).run(since=since)
    assert result.examined == 2 and result.republished == 2
    first = next(iter(shared.wal.list())).name
    assert replayer(shared).run(after=first).examined == 3
    assert shared.checkpoints.positions == []


def test_a_reused_msgid_entry_is_replayed_until_its_own_record_is_final(shared: Shared) -> None:
    """The first body's final record does not cover a WAL entry of another body under the same MsgId."""
    message_id = "cd" * 24
    shared.mq.put(message_id, b"ACC|first statement")
    shared.queue_builder().run(budget_s=5)
    deliver(shared, 1)
    shared.mq.put(message_id, b"ACC|second statement")
    shared.queue_builder().run(budget_s=5)  # dropped by duplicate detection: only the WAL has it
    second = list(shared.wal.list())[1]
    lose_service_bus(shared)
    result = replayer(shared).run_slice(straggler_walk("DC04"), budget_s=60)
    assert [s.wal_name for s in shared.publisher.sent] == [second.name]
    assert result.checkpoint.final_through == next(iter(shared.wal.list())).name
    shared.runner().handle(inbound(shared.publisher.sent[0]))  # recorded FAILED: message-id-reused
    lose_service_bus(shared)
    again = replayer(shared).run_slice(straggler_walk("DC04"), budget_s=60, restart=True)
    assert again.republished == 0 and again.checkpoint.final_through == second.name


def test_the_cutoff_ends_the_walk_at_the_first_younger_entry_before_older_ones(shared: Shared) -> None:
    """Name order is ingest order, but clocks are not: the walk never examines past a younger entry, so
    the watermark cannot pass it."""
    names = ingest(shared, 3)
    deliver(shared, 3)
    young = shared.wal.read(names[1])[0]
    shared.wal._blobs[names[1]] = (replace(young, ingested_at=young.ingested_at + timedelta(hours=1)), b"x")
    cutoff = shared.clock.now + timedelta(minutes=1)
    result = replayer(shared).run_slice(straggler_walk("DC04"), budget_s=60, older_than=cutoff)
    assert result.done and result.examined == 1
    assert result.checkpoint.final_through == names[0]


def test_parallel_body_reads_keep_ingest_order(shared: Shared) -> None:
    names = ingest(shared, 50)
    deliver(shared, 7)
    lose_service_bus(shared)
    result = replayer(shared, page_size=20, readers=8).run_slice(WALK, budget_s=60)
    assert result.done and result.republished == 43
    assert [s.wal_name for s in shared.publisher.sent] == names[7:]
