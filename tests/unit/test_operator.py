"""Operator routes: status, failover (validated, refused when unhealthy, rate-limited), replay."""

from datetime import timedelta
from typing import Any

import pytest

from shared.model import Lease
from tests.unit.test_watchdog import make_watchdog
from tests.unit.twins import Shared
from watchdog.operator import OperatorApi


@pytest.fixture
def shared() -> Shared:
    return Shared()


def _body(api: OperatorApi) -> dict[str, Any]:
    """The body of ``GET /api/status`` (typed for the assertions that index into it)."""
    return api.status()[1]


def json_of(result: tuple[int, dict[str, object]]) -> tuple[int, dict[str, Any]]:
    """A route's answer with its JSON body as the test reads it."""
    return result


def api_for(shared: Shared, region: str, healthy: bool = True) -> OperatorApi:
    watchdog = make_watchdog(shared, region, healthy=healthy)
    watchdog.tick()
    return OperatorApi(
        region=region,
        authority=shared.authority,
        checkpoints=shared.checkpoints,
        heartbeats=shared.heartbeats,
        watchdog=watchdog,
        replayer=watchdog.replayer,
        backlog=lambda: {"mq_depth": shared.mq.depth()},
        record_counts=shared.store.counts,
        min_failover_interval_s=60,
        clock=shared.clock.wall,
    )


def test_status_shows_the_picture(shared: Shared) -> None:
    dc04 = api_for(shared, "DC04")
    api_for(shared, "DC06")
    status, body = json_of(dc04.status())
    assert status == 200
    assert body["active_dc"] == "DC04" and body["epoch"] == 1 and body["this_region_active"]
    regions = body["regions"]
    assert regions["DC04"]["heartbeat_age_s"] == 0.0 and regions["DC06"]["health"]["healthy"]
    assert regions["DC04"]["activated"]["epoch"] == 1 and regions["DC06"]["activated"] is None
    assert body["lease"]["holder"] == "DC04" and body["lease"]["lease_until"] == "2026-11-26T09:00:06+00:00"
    assert body["last_failover"] is None
    assert body["backlog"] == {"mq_depth": 0}
    assert isinstance(body["recent_problems"], list)


def test_status_lists_the_last_problems(shared: Shared) -> None:
    dc04 = api_for(shared, "DC04")
    shared.heartbeats.available = False
    shared.mirrors["DC04"].available = False
    dc04.watchdog.tick()
    shared.heartbeats.available = True
    body = _body(dc04)
    events = [problem["event"] for problem in body["recent_problems"]]
    assert "watchdog.heartbeat_failed" in events and "watchdog.mirror_failed" in events


def _claim(message_id: str, shared: Shared) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "session_id": "CH93",
        "region": "DC06",
        "epoch": 2,
        "delivery_key": message_id,
        "lease_until": shared.clock.wall() + timedelta(minutes=1),
        "wal_name": f"wal/{message_id}",
        "sequence": 1,
    }


def test_status_counts_from_the_records_not_from_this_process(shared: Shared) -> None:
    # DC06's runner failed one statement and delivered one; DC04's process counted nothing itself.
    for message_id in ("m-ok", "m-bad"):
        runner_claim = shared.store.claim(**_claim(message_id, shared))
        if message_id == "m-bad":
            shared.store.mark_failed(runner_claim, "unbalanced", {})
        else:
            shared.store.mark_delivered(runner_claim, {})
    dc04 = api_for(shared, "DC04")
    body = _body(dc04)
    assert body["records"] == {
        "window_h": 24,
        "counted_s_ago": 0.0,
        "delivered": 1,
        "failed": 1,
        "pending": 0,
        "in_doubt": 0,
        "lease_expired": 0,
    }
    assert "failed" not in body["counters"]
    assert body["counters_scope"].startswith("this process")
    # Polled again within 15 s: the same counts, not another round of queries; then counted anew.
    shared.store.available = False
    shared.clock.advance(10)
    assert _body(dc04)["records"]["counted_s_ago"] == 10.0
    shared.store.available = True
    shared.store.mark_failed(shared.store.claim(**_claim("m-late", shared)), "unbalanced", {})
    shared.clock.advance(5)
    records = _body(dc04)["records"]
    assert (records["counted_s_ago"], records["failed"]) == (0.0, 2)


def test_status_says_when_the_records_cannot_be_counted(shared: Shared) -> None:
    dc04 = api_for(shared, "DC04")
    shared.store.available = False
    assert dc04.status()[0] == 200
    assert "switched off" in _body(dc04)["records"]["error"]


def test_a_failover_is_an_event_not_a_problem(shared: Shared) -> None:
    dc04 = api_for(shared, "DC04")
    api_for(shared, "DC06")
    assert dc04.failover({"target": "DC06", "reason": "planned maintenance"}, caller="alice")[0] == 202
    body = _body(dc04)
    assert {e["event"] for e in body["recent_events"]} == {
        "watchdog.lease_initialised",
        "watchdog.activated",
        "watchdog.transferred",
        "operator.audit",
    }
    assert body["recent_problems"] == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "target: required"),
        ({"target": "DC05", "reason": "drill"}, "expected one of DC04, DC06"),
        ({"target": "DC06"}, "reason: required"),
        ({"target": "DC06", "reason": "x"}, "say why"),
    ],
)
def test_failover_validates_input(shared: Shared, body: dict, fragment: str) -> None:
    status, answer = json_of(api_for(shared, "DC04").failover(body, caller="alice"))
    assert status == 400 and fragment in answer["error"]


def test_failover_flips_when_the_target_is_healthy(shared: Shared, caplog: pytest.LogCaptureFixture) -> None:
    dc04 = api_for(shared, "DC04")
    api_for(shared, "DC06")
    status, answer = json_of(
        dc04.failover({"target": "DC06", "reason": "planned maintenance"}, caller="alice")
    )
    assert status == 202 and answer["epoch"] == 2
    assert answer["not_before"] == "2026-11-26T09:00:07+00:00"  # DC04's lease (6 s) + skew (1 s)
    moved = shared.authority.read()
    assert moved is not None and (moved.active_dc, moved.epoch, moved.by) == ("DC06", 2, "alice")
    view = shared.mirrors["DC04"].read()
    assert view is not None and view.lease.active_dc == "DC06"  # DC04's fences refuse at once
    assert shared.switches["DC04"].enabled()  # the switch (an app restart in Azure) follows on a tick
    dc04.watchdog.tick()
    assert not shared.switches["DC04"].enabled()
    body = _body(dc04)
    assert (
        body["last_failover"]["from"] == "DC04" and body["last_failover"]["reason"] == "planned maintenance"
    )
    audit = [r for r in caplog.records if r.getMessage().startswith("operator.audit")]
    assert (
        audit and vars(audit[-1])["caller"] == "alice" and vars(audit[-1])["reason"] == "planned maintenance"
    )


def test_failover_refuses_an_unhealthy_target_unless_forced(shared: Shared) -> None:
    dc04 = api_for(shared, "DC04")
    api_for(shared, "DC06", healthy=False)
    status, answer = json_of(dc04.failover({"target": "DC06", "reason": "planned maintenance"}, caller="bob"))
    assert status == 409 and "not healthy" in answer["error"]
    assert shared.authority.read().active_dc == "DC04"  # type: ignore[union-attr]
    forced = dc04.failover({"target": "DC06", "reason": "DC04 is on fire", "force": True}, caller="bob")
    assert forced[0] == 202


def test_failover_is_rate_limited_and_refuses_the_active_target(shared: Shared) -> None:
    dc04 = api_for(shared, "DC04")
    api_for(shared, "DC06")
    assert dc04.failover({"target": "DC06", "reason": "first move"}, caller="a")[0] == 202
    shared.clock.advance(10)
    status, answer = json_of(dc04.failover({"target": "DC04", "reason": "second move"}, caller="a"))
    assert status == 429 and "rate limited" in answer["error"]
    shared.clock.advance(60)
    assert dc04.failover({"target": "DC06", "reason": "already there"}, caller="a")[0] == 409


def test_replay_runs_only_on_the_active_region(shared: Shared) -> None:
    dc04, dc06 = api_for(shared, "DC04"), api_for(shared, "DC06")
    assert dc06.replay({}, caller="c")[0] == 409
    status, answer = json_of(dc04.replay({}, caller="c"))
    assert status == 200 and answer["republished"] == 0
    assert dc04.replay({"from": "yesterday"}, caller="c")[0] == 400
    bad_window = {"from": "2026-11-26T10:00:00Z", "to": "2026-11-26T09:00:00Z"}
    assert dc04.replay(bad_window, caller="c")[0] == 400


def test_a_failover_that_meets_the_holders_renewal_tries_again(shared: Shared) -> None:
    """The holder renews every tick; a renewal between the route's read and its compare-and-set must
    not turn a planned failover into a 409 (drill failover-cycles met it)."""
    dc04 = api_for(shared, "DC04")
    api_for(shared, "DC06")
    swap = shared.authority.swap
    renewals: list[Lease] = []

    def renew_first_then_swap(expected: Lease, new: Lease) -> Lease:
        current = shared.authority.read()
        if new.epoch > expected.epoch and current is not None and len(renewals) < 2:
            renewals.append(
                swap(current, current.renewed(shared.clock.now + timedelta(seconds=7), shared.clock.now))
            )
        return swap(expected, new)

    shared.authority.swap = renew_first_then_swap  # type: ignore[method-assign]
    status, answer = dc04.failover({"target": "DC06", "reason": "planned maintenance"}, caller="ops")
    assert status == 202 and answer["epoch"] == 2 and len(renewals) == 2  # lost twice, third attempt won
    moved = shared.authority.read()
    assert moved is not None and moved.not_before == renewals[-1].lease_until + timedelta(seconds=1)


def test_a_failover_that_meets_another_transfer_is_refused(shared: Shared) -> None:
    dc04 = api_for(shared, "DC04")
    api_for(shared, "DC06")
    read = shared.authority.read

    def read_then_someone_transfers():
        seen = read()
        if seen is not None and seen.epoch == 1:
            shared.authority.transfer(
                seen, "DC06", reason="other", by="x", now=shared.clock.now, lease_s=6, skew_s=1
            )
        return seen

    shared.authority.read = read_then_someone_transfers  # type: ignore[method-assign]
    status, answer = json_of(dc04.failover({"target": "DC06", "reason": "planned maintenance"}, caller="ops"))
    assert status == 409 and "changed meanwhile" in answer["error"]
    assert shared.authority.read().epoch == 2
