"""The dev stack's crash points (``dev/faults.py``), armed around the ports: each stops a handler in
the window it names (docs/protocols.md), and the paths that only look alike do not count."""

from __future__ import annotations

import pytest

from dev.faults import CrashPoints, FaultInjected
from shared.model import RecordState
from tests.unit.twins import Shared, inbound, put_statements
from transformation_runner.handler import Outcome


@pytest.fixture
def shared() -> Shared:
    s = Shared()
    s.activate("DC04")
    return s


@pytest.mark.parametrize(
    ("point", "segments", "sent"),
    [("qb.after_get", 0, 0), ("qb.after_wal", 1, 0), ("qb.after_send", 1, 4), ("qb.before_commit", 1, 4)],
)
def test_each_queue_builder_point_stops_the_unit_of_work_in_its_window(
    shared: Shared, point: str, segments: int, sent: int
) -> None:
    ids = put_statements(shared, 4)
    summary = shared.queue_builder(around=CrashPoints(f"{point}=raise")).run(budget_s=5)
    assert summary["outcome"] == "retry-later" and summary["ingested"] == 0
    listed = list(shared.wal.list())
    assert len(listed) == segments and len(shared.publisher.sent) == sent
    for info in listed:  # the unit's one segment holds all its messages, or there is none
        assert [e.message_id for e in shared.wal.read_index(info.name).entries] == ids
    assert shared.mq.depth() == 4  # never committed: MQ backed the unit of work out


@pytest.mark.parametrize(
    ("point", "state", "delivered", "retry"),
    [
        ("runner.after_claim", RecordState.PENDING, 0, Outcome.DELIVERED),
        ("runner.before_deliver", RecordState.PENDING, 0, Outcome.DELIVERED),
        ("runner.after_deliver", RecordState.PENDING, 1, Outcome.RECONCILED),
        ("runner.after_record", RecordState.DELIVERED, 1, Outcome.DUPLICATE),
    ],
)
def test_each_runner_point_stops_the_message_in_its_window(
    shared: Shared, point: str, state: RecordState, delivered: int, retry: Outcome
) -> None:
    put_statements(shared, 1)
    shared.queue_builder().run(budget_s=5)
    [message] = [inbound(s) for s in shared.publisher.sent]
    with pytest.raises(FaultInjected):
        shared.runner(around=CrashPoints(f"{point}=raise")).handle(message)
    record = shared.store.get(message.message_id)
    assert record is not None and record.state is state
    assert sum(shared.target.attempts.values()) == delivered
    assert shared.runner().handle(message) is retry
    assert sum(shared.target.attempts.values()) == 1


def test_the_release_and_the_reconcile_path_are_not_counted_as_claim_or_record(shared: Shared) -> None:
    put_statements(shared, 1)
    shared.queue_builder().run(budget_s=5)
    [message] = [inbound(s) for s in shared.publisher.sent]
    first = CrashPoints("runner.after_deliver=raise@1,runner.after_claim=sleep:0")
    with pytest.raises(FaultInjected):
        shared.runner(around=first).handle(message)
    assert first.hits("runner.after_claim") == 1  # the claim; the release of the lease after it is not
    second = CrashPoints("runner.after_claim=sleep:0,runner.after_record=sleep:0")
    assert shared.runner(around=second).handle(message) is Outcome.RECONCILED
    assert second.hits("runner.after_claim") == 1  # the take-over of the in-doubt claim
    assert second.hits("runner.after_record") == 0  # recorded without a delivery: not that window


def test_the_n_th_hit_only_fires(shared: Shared) -> None:
    put_statements(shared, 3)
    points = CrashPoints("qb.after_get=raise@3")
    assert shared.queue_builder(around=points, batch_size=1).run(budget_s=5)["ingested"] == 2
    assert points.hits("qb.after_get") == 3 and shared.mq.depth() == 1


@pytest.mark.parametrize("spec", ["qb.nowhere=raise", "qb.after_get=explode", "qb.after_get=exit@x"])
def test_an_unknown_point_or_action_is_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        CrashPoints(spec)


def test_dependencies_without_a_window_are_handed_over_unwrapped(shared: Shared) -> None:
    points = CrashPoints("qb.after_get=raise")
    assert points("runner", "quarantine", shared.quarantine) is shared.quarantine
    assert points("queue_builder", "quarantine", shared.quarantine) is shared.quarantine
