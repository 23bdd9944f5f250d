"""Replay: ordered, only entries without a final record, incremental, safe to run twice."""

from datetime import timedelta

import pytest

from tests.unit.twins import Shared, inbound, put_statements
from watchdog.replay import CHECKPOINT_KEY, Replayer


@pytest.fixture
def shared() -> Shared:
    s = Shared()
    s.activate("DC04")
    return s


def replayer(shared: Shared) -> Replayer:
    return Replayer(
        wal=shared.wal,
        store=shared.store,
        publisher=shared.publisher,
        checkpoints=shared.checkpoints,
        page_size=2,
    )


def lose_service_bus(shared: Shared) -> None:
    shared.publisher.sent.clear()
    shared.publisher._seen.clear()


def test_republishes_only_entries_without_a_final_record_in_order(shared: Shared) -> None:
    put_statements(shared, 5, account="A")
    shared.queue_builder().run(budget_s=5)
    runner = shared.runner()
    for statement in shared.publisher.sent[:2]:
        runner.handle(inbound(statement))
    lose_service_bus(shared)
    result = replayer(shared).run()
    assert (result.examined, result.republished, result.already_final) == (5, 3, 2)
    assert [s.sequence for s in shared.publisher.sent] == [3, 4, 5]
    assert result.checkpoint_after == list(shared.wal.list())[1].name  # stops before the first non-final


def test_running_twice_delivers_nothing_twice(shared: Shared) -> None:
    put_statements(shared, 3)
    shared.queue_builder().run(budget_s=5)
    lose_service_bus(shared)
    replayer(shared).run()
    replayer(shared).run()  # Service Bus drops the copies (same MessageId) within the window
    assert len(shared.publisher.sent) == 3
    lose_service_bus(shared)  # after the dedup window: copies arrive again...
    replayer(shared).run()
    runner = shared.runner()
    for statement in shared.publisher.sent * 2:
        runner.handle(inbound(statement))
    assert len(shared.target.delivered) == 3 and set(shared.target.attempts.values()) == {1}


def test_checkpoint_moves_past_final_entries_only(shared: Shared) -> None:
    put_statements(shared, 4)
    shared.queue_builder().run(budget_s=5)
    runner = shared.runner()
    for statement in shared.publisher.sent:
        runner.handle(inbound(statement))
    result = replayer(shared).run()
    assert result.republished == 0
    saved = shared.checkpoints.get(CHECKPOINT_KEY)
    assert saved is not None and saved.position == list(shared.wal.list())[-1].name
    put_statements(shared, 2, start=10)
    shared.queue_builder().run(budget_s=5)
    again = replayer(shared).run()
    assert again.examined == 2  # incremental: earlier entries are not examined again


def test_time_window_and_explicit_start_do_not_move_the_checkpoint(shared: Shared) -> None:
    put_statements(shared, 2)
    shared.queue_builder().run(budget_s=5)
    shared.clock.advance(3600)
    put_statements(shared, 2, start=5)
    shared.queue_builder().run(budget_s=5)
    lose_service_bus(shared)
    since = shared.clock.now - timedelta(minutes=5)
    result = replayer(shared).run(since=since)
    assert result.examined == 2 and result.republished == 2
    assert shared.checkpoints.get(CHECKPOINT_KEY) is None
    first = next(iter(shared.wal.list())).name
    assert replayer(shared).run(after=first).examined == 3
    assert shared.checkpoints.get(CHECKPOINT_KEY) is None
