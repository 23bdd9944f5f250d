"""``make status``: the summary of both regions' status answers (dev/status.py).

The answers are real ``OperatorApi.status()`` bodies of two regions on shared in-memory twins; a
region that does not answer raises ``OSError`` as ``LocalHost.call`` does (``URLError`` is one).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import bootstrap
from dev import status
from dev.drill.harness import _free_pair
from dev.host import LocalHost
from shared.settings import Settings
from tests.twins import InMemoryDeliveryTarget, InMemoryPublisher
from tests.unit.test_operator import api_for
from tests.unit.test_settings import LOCAL
from tests.unit.twins import Shared, twin_ports
from watchdog.operator import OperatorApi
from watchdog.probes import FIRST_CHECK, Throttled


@pytest.fixture
def shared() -> Shared:
    return Shared()


def both(shared: Shared) -> dict[str, OperatorApi]:
    return {"DC04": api_for(shared, "DC04"), "DC06": api_for(shared, "DC06")}


def caller(apis: dict[str, OperatorApi], down: set[str] = frozenset()) -> status.Call:  # type: ignore[assignment]
    def call(region: str) -> tuple[int, dict[str, Any]]:
        if region in down:
            raise ConnectionRefusedError(111, "Connection refused")
        return apis[region].status()

    return call


def run(call: status.Call, as_json: bool = False) -> tuple[int, list[str]]:
    lines: list[str] = []
    return status.main(call, as_json, out=lines.append), lines


def test_all_well_is_a_short_summary_with_no_problems(shared: Shared) -> None:
    code, lines = run(caller(both(shared)))
    assert code == 0
    assert lines[0] == "Active region: DC04 (epoch 1), as read by DC04 and DC06"
    assert lines[1].split()[:4] == ["DC04", "active", "healthy", "heartbeat"]
    assert lines[2].split()[:4] == ["DC06", "passive", "healthy", "heartbeat"]
    assert "Backlog: 0 message(s) waiting on the MQ input queue" in lines
    assert any(line.startswith("Records, last 24 h") and "0 FAILED" in line for line in lines)
    assert any(line.strip().startswith("(in doubt = a worker stopped") for line in lines)
    assert "Problems: none" in lines
    assert len(lines) <= 12


def test_a_region_that_does_not_answer_is_named(shared: Shared) -> None:
    code, lines = run(caller(both(shared), down={"DC06"}))
    assert code == 1
    assert lines[0] == "Active region: DC04 (epoch 1), as read by DC04"
    assert "  - DC06 does not answer (Connection refused)" in lines


def test_failed_records_and_failing_probes_are_problems_and_failovers_are_events(shared: Shared) -> None:
    apis = both(shared)
    record = shared.store.claim(
        message_id="m1",
        session_id="CH93",
        region="DC04",
        epoch=1,
        delivery_key="k1",
        lease_until=shared.clock.wall() + timedelta(minutes=1),
        wal_name="wal/m1",
        sequence=1,
    )
    shared.store.mark_failed(record, "unbalanced", {})
    assert apis["DC04"].failover({"target": "DC06", "reason": "planned, CHG-1"}, caller="alice")[0] == 202
    dc06 = apis["DC06"].watchdog
    dc06.probes = {**dc06.probes, "messageway": shared.target.probe}  # as bootstrap.probes wires it
    shared.target.available = False  # MessageWay away: DC06's next health check fails its probe
    dc06.tick()
    code, lines = run(caller(apis))
    assert code == 0  # both answer: problems are reported, they do not fail the command
    text = "\n".join(lines)
    assert lines[0].startswith("Active region: DC06 (epoch 2)")
    assert "last failover DC04 -> DC06" in text and "planned, CHG-1" in text
    assert "DC06  active   UNHEALTHY" in text
    assert "  - DC06 probe messageway: ServiceUnavailable" in text
    assert "  - 1 FAILED statement(s): runbook, Quarantine handling" in text
    events = text.split("Recent events (normal, for the record):")[1]
    assert "watchdog.transferred" in events and "operator.audit" in events
    problems = text.split("Problems:")[1].split("Recent events")[0]
    assert "watchdog.transferred" not in problems and "operator.audit" not in problems


def test_regions_that_disagree_are_a_problem() -> None:
    answers = {
        "DC04": {"active_dc": "DC04", "epoch": 3, "regions": {}},
        "DC06": {"active_dc": "DC06", "epoch": 4, "regions": {}},
    }
    assert status.problems(answers) == [
        "the regions disagree on the active region: DC04 says DC04@3, DC06 says DC06@4"
    ]


def test_json_prints_both_answers_verbatim(shared: Shared) -> None:
    apis = both(shared)
    code, lines = run(caller(apis, down={"DC04"}), as_json=True)
    assert code == 1
    answers = json.loads("\n".join(lines))
    assert set(answers) == {"DC04", "DC06"}
    assert answers["DC04"] == {"error": "does not answer (Connection refused)"}
    assert answers["DC06"]["region"] == "DC06" and "records" in answers["DC06"]


def test_no_region_running_says_how_to_start_them(tmp_path: Path) -> None:
    host = LocalHost({}, state=tmp_path / "host", http_base=_free_pair(18600))  # nothing listens there
    code, lines = run(lambda region: host.call(region, "GET", "status"))
    assert code == 2
    assert lines[0] == "No region answers: start them with `make host`."
    assert any("DC04 does not answer" in line for line in lines)
    assert any("DC06 does not answer" in line for line in lines)


def test_the_health_check_probes_service_bus_and_messageway() -> None:
    ports = twin_ports()
    watchdog = bootstrap.wire(Settings.from_mapping(LOCAL), ports).watchdog
    assert {"servicebus", "messageway"} <= set(watchdog.probes)
    assert isinstance(ports.publisher, InMemoryPublisher) and isinstance(ports.target, InMemoryDeliveryTarget)
    ports.publisher.available = False
    ports.target.available = False
    first = {result.name: result for result in watchdog.check_health()}
    assert first["servicebus"].ok and first["servicebus"].detail == FIRST_CHECK
    servicebus = watchdog.probes["servicebus"]
    assert isinstance(servicebus, Throttled)
    servicebus.wait()  # the background check has finished: the next health check reports it
    health = {result.name: result for result in watchdog.check_health()}
    assert not health["servicebus"].ok and "ServiceUnavailable" in health["servicebus"].detail
    assert not health["messageway"].ok and "ServiceUnavailable" in health["messageway"].detail


def test_the_queue_builder_run_is_shown_as_an_age() -> None:
    assert status._since("2026-12-03T12:00:00+00:00", "2026-12-03T12:00:02.5+00:00") == "2.5 s ago"
    assert status._since(None, "2026-12-03T12:00:02+00:00") == "never"
