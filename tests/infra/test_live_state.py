"""infra/live_state.py, the deploy host's reads for deploy.sh: the health verdict is taken from the
status route's real answer (the Watchdog's OperatorApi wired on in-memory twins), and every read that
cannot be made ends in the "unreadable" exit code deploy.sh stops on."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

import pytest

import bootstrap
from shared.settings import Settings
from tests.infra.bicep import INFRA
from tests.unit.test_settings import LOCAL
from tests.unit.twins import twin_ports

SCRIPT = INFRA / "live_state.py"
sys.path.insert(0, str(INFRA))
import live_state  # noqa: E402 - infra/ is not a package; the script is imported from its folder


def _status(probe_fails: bool = False) -> dict[str, Any]:
    """The DC06 status route's body after one QueueBuilder run and one Watchdog tick (as on Azure a
    few seconds after the code starts: the timers run every 10 and 15 s)."""
    components = bootstrap.wire(Settings.from_mapping({**LOCAL, "BRIDGE_REGION": "DC06"}), twin_ports())
    if probe_fails:

        def broken() -> object:
            raise ConnectionError("cosmos unreachable")

        components.watchdog.probes = {**components.watchdog.probes, "cosmos": broken}
    components.queue_builder.run(budget_s=1.0)
    components.watchdog.tick()
    code, body = components.operator.status()
    assert code == 200
    return dict(body)


def test_a_healthy_region_with_a_fresh_heartbeat_passes() -> None:
    assert live_state.health_verdict(_status(), "DC06", max_age_s=90) is None


def test_a_failing_probe_is_named() -> None:
    verdict = live_state.health_verdict(_status(probe_fails=True), "DC06", max_age_s=90)
    assert verdict is not None and "cosmos" in verdict


def test_an_answer_from_the_other_region_or_a_stale_heartbeat_is_not_health() -> None:
    status = _status()
    assert "not DC04" in str(live_state.health_verdict(status, "DC04", max_age_s=90))
    status["regions"]["DC06"]["heartbeat_age_s"] = 300.0
    assert "heartbeat age 300.0" in str(live_state.health_verdict(status, "DC06", max_age_s=90))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_an_unreachable_status_route_is_unhealthy() -> None:
    done = _run(
        "health",
        "--url",
        "https://127.0.0.1:9/api/status",
        "--region",
        "DC06",
        "--attempts",
        "2",
        "--interval",
        "0",
        "--timeout",
        "2",
    )
    assert done.returncode == live_state.UNREADABLE
    assert "attempt 2/2" in done.stderr and "DC06 is not healthy" in done.stderr


def test_plain_http_is_refused() -> None:
    done = _run("health", "--url", "http://example.invalid/api/status", "--region", "DC06")
    assert done.returncode == live_state.UNREADABLE and "https only" in done.stderr


def test_an_unreadable_gate_without_a_mirror_is_unreadable_not_not_found() -> None:
    done = _run("gate", "--endpoint", "https://127.0.0.1:9/", "--database", "bridge", "--timeout", "2")
    assert done.returncode == live_state.UNREADABLE
    assert "Cosmos DB gate unreadable" in done.stderr


def test_an_unreadable_mirror_does_not_vouch_either() -> None:
    done = _run(
        "gate",
        "--endpoint",
        "https://127.0.0.1:9/",
        "--database",
        "bridge",
        "--timeout",
        "2",
        "--redis-host",
        "127.0.0.1:9",
    )
    assert done.returncode == live_state.UNREADABLE
    assert "Redis mirror unreadable too" in done.stderr


def test_the_gate_item_is_read_from_a_real_cosmos_container(stack: dict[str, str]) -> None:
    """Against the local Cosmos DB server (the unmodified azure-cosmos SDK): a missing item is
    NOT FOUND, an item names its region, a malformed one is an error (never a region)."""
    from azure.cosmos import CosmosClient, PartitionKey  # noqa: PLC0415

    client = CosmosClient.from_connection_string(stack["STACK_COSMOS"], enable_endpoint_discovery=False)
    database = client.create_database_if_not_exists("deploy-gate")
    container = database.create_container_if_not_exists(
        f"control-{uuid.uuid4().hex[:8]}", partition_key=PartitionKey(path="/id")
    )
    with pytest.raises(live_state.NotFound):
        live_state.read_gate_item(container, "gate")
    container.upsert_item({"id": "gate", "active_dc": "DC06", "epoch": 3})
    assert live_state.read_gate_item(container, "gate") == "DC06"
    container.upsert_item({"id": "gate", "active_dc": "DC05", "epoch": 4})
    with pytest.raises(ValueError, match="DC05"):
        live_state.read_gate_item(container, "gate")
