"""Replays in the trace: each statement a replay re-published shows a ``replayed`` step (time, region,
epoch, walk, reason), read from the journal documents the replay's hook wrote; through the Tracer,
the route and the CLI. A journal that cannot be written does not stop the replay and the gap is
reported."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from azure.functions.timer import TimerRequest

from dev.http import serve_routes
from shared.telemetry import metrics
from tests.ops.region import GOOD, USER_FUNCTIONS, call, flow, install, request, uninstall
from tests.ops.test_reconcile import NOW, Region
from tests.twins import InMemoryCheckpointStore, InMemoryPublisher
from watchdog import cli
from watchdog.replay import Replayer, activation_walk, operator_walk, straggler_walk
from watchdog.replay_trace import ReplayRecorder, replay_reason
from watchdog.trace import Tracer


def replayer(region: Region, recorder: ReplayRecorder) -> tuple[Replayer, InMemoryPublisher]:
    publisher = InMemoryPublisher()
    replay = Replayer(
        wal=region.wal,
        store=region.store,
        publisher=publisher,
        checkpoints=InMemoryCheckpointStore(),
        page_size=2,
        readers=1,
        clock=lambda: NOW,
        on_republished=recorder,
    )
    return replay, publisher


def test_a_replayed_statement_shows_when_where_in_which_epoch_and_why() -> None:
    region = Region()
    delivered, lost, unclaimed = region.ingest("d1"), region.ingest("p1"), region.ingest("n1")
    region.deliver(delivered)
    region.claim(lost, lease_minutes=-1)  # claimed, its worker gone: no final record
    later = NOW + timedelta(minutes=5)
    recorder = ReplayRecorder("DC06", region.journal, epoch=lambda: 2, clock=lambda: later)
    replay, publisher = replayer(region, recorder)

    result = replay.run_slice(activation_walk("DC06", 2), budget_s=60)

    assert [s.message_id for s in publisher.sent] == ["p1", "n1"] and result.republished == 2
    tracer = Tracer(region.wal, region.store, region.journal, clock=lambda: later)
    steps = tracer.trace("p1")["steps"]
    assert isinstance(steps, list)
    [replayed] = [s for s in steps if s["step"] == "replayed"]
    assert replayed == {
        "step": "replayed",
        "at": later.isoformat(),
        "region": "DC06",
        "epoch": 2,
        "walk": "replay:activation:DC06:2",
        "reason": "activation of DC06 in epoch 2: WAL entries without a final record",
        "wal": f"wal/{lost.segment}",
        "offset": lost.offset,
        "position": f"1/{lost.sequence}",
    }
    order = [s["step"] for s in steps]
    assert order.index("servicebus") < order.index("replayed") < order.index("claim")
    unclaimed_steps = tracer.trace("n1")["steps"]
    assert isinstance(unclaimed_steps, list)
    assert [s["walk"] for s in unclaimed_steps if s["step"] == "replayed"] == ["replay:activation:DC06:2"]
    assert unclaimed_steps[-1]["wal"] == f"wal/{unclaimed.segment}"
    delivered_steps = tracer.trace("d1")["steps"]
    assert isinstance(delivered_steps, list)
    assert "replayed" not in [s["step"] for s in delivered_steps]  # it had a final record


def test_every_replay_of_a_statement_is_a_step_of_its_own() -> None:
    region = Region()
    region.ingest("p1")
    first, second = NOW + timedelta(minutes=1), NOW + timedelta(minutes=40)
    clock = iter([first, second])
    recorder = ReplayRecorder("DC04", region.journal, epoch=lambda: 1, clock=lambda: next(clock))
    replay, _ = replayer(region, recorder)
    replay.run_slice(straggler_walk("DC04"), budget_s=60)
    replay.run(walk=operator_walk("olga@bank.example"))

    steps = Tracer(region.wal, region.store, region.journal, clock=lambda: second).trace("p1")["steps"]
    assert isinstance(steps, list)
    replays = [(s["at"], s["walk"], s["reason"]) for s in steps if s["step"] == "replayed"]
    assert replays == [
        (
            first.isoformat(),
            "replay:stragglers:DC04",
            "straggler replay: no final record after REPLAY_INTERVAL_S",
        ),
        (
            second.isoformat(),
            "replay:operator:olga@bank.example",
            "operator replay (POST /api/replay) by olga@bank.example",
        ),
    ]


def test_an_unwritable_journal_does_not_stop_the_replay_and_the_gap_is_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    region = Region()
    region.ingest("p1")
    region.ingest("p2")
    region.journal.available = False
    replay, publisher = replayer(region, ReplayRecorder("DC06", region.journal, epoch=lambda: 2))
    before = metrics.snapshot().get("replay_trace_unrecorded", 0)

    with caplog.at_level(logging.ERROR, logger="bridge.replay"):
        result = replay.run_slice(activation_walk("DC06", 2), budget_s=60)

    assert result.done and [s.message_id for s in publisher.sent] == ["p1", "p2"]
    assert result.checkpoint.position  # the walk moved on
    [event] = [r for r in caplog.records if r.getMessage().startswith("replay.trace_unrecorded")]
    assert event.message_ids == "p1,p2" and event.count == 2  # type: ignore[attr-defined]
    assert metrics.snapshot()["replay_trace_unrecorded"] == before + 2


def test_reason_of_a_walk_it_does_not_know_is_its_name() -> None:
    assert replay_reason("replay:segments:x") == "replay:segments:x"


# -- the route and the CLI, on a region wired by the composition root ------------------------------

STUCK_ID = "c3" * 24


@pytest.fixture
def replayed_region() -> Iterator[None]:
    """DC04 with one statement taken off MQ whose Service Bus message was lost, replayed by an operator."""
    components, _ = install()
    flow(components, "a1" * 24, GOOD.read_bytes())  # delivered: not replayed
    components.ports.mq.put(STUCK_ID, GOOD.read_bytes())  # type: ignore[attr-defined]
    call("queue_builder", TimerRequest(past_due=False))
    components.ports.publisher.sent.clear()  # type: ignore[attr-defined]  # the namespace lost it
    status, result = components.operator.replay({}, "olga@bank.example")
    assert status == 200 and result["republished"] == 1
    yield
    uninstall()


@pytest.mark.usefixtures("replayed_region")
def test_the_trace_route_shows_the_replay() -> None:
    response = call("ops_trace", request("GET", "trace", "reader", params={"message_id": STUCK_ID}))
    assert response.status_code == 200  # type: ignore[attr-defined]
    answer = json.loads(response.get_body())  # type: ignore[attr-defined]
    [step] = [s for s in answer["steps"] if s["step"] == "replayed"]
    assert (step["region"], step["epoch"], step["walk"]) == ("DC04", 1, "replay:operator:olga@bank.example")


@pytest.mark.integration  # serves the routes on a local socket (dev/http.py)
@pytest.mark.usefixtures("replayed_region")
def test_the_cli_trace_shows_the_replay(capsys: pytest.CaptureFixture[str]) -> None:
    server = serve_routes(0, "key", USER_FUNCTIONS)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        code = cli.run(cli.parser().parse_args(["trace", STUCK_ID]), cli.http_sender(url, "key", ""))
    finally:
        server.shutdown()
        server.server_close()
    answer = json.loads(capsys.readouterr().out)
    assert code == 0 and [s["reason"] for s in answer["steps"] if s["step"] == "replayed"] == [
        "operator replay (POST /api/replay) by olga@bank.example"
    ]
