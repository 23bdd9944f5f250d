"""Hosting settings that decide throughput in Azure agree with each other (issue 15, item 4).

* The Python worker's thread pool (``PYTHON_THREADPOOL_THREAD_COUNT``, main.bicep) equals the runner's
  session concurrency (``maxConcurrentSessions``, host.json): the runner's handler is synchronous, one
  thread per session it holds; the Cosmos client's connection pool covers every thread.
* ``FUNCTIONS_WORKER_PROCESS_COUNT`` is not set on the Flex Consumption plan, where it is not valid.
* The QueueBuilder's run ends before the next tick of its schedule in both regions' files.

docs/deployment.md, "QueueBuilder run length and worker processes", cites the sources.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.adapters.cosmos_client import CosmosOptions
from shared.settings import TIMER_MARGIN_S, schedule_interval_s
from tests.infra.bicep import INFRA, ROOT, key, parse_bicep, parse_bicepparam
from tests.infra.test_settings_coverage import app_settings

MAIN = parse_bicep(INFRA / "main.bicep")
FUNCTION_APP = parse_bicep(INFRA / "modules" / "function-app.bicep")
REGION_FILES = [parse_bicepparam(INFRA / f"{r}.bicepparam") for r in ("dc04", "dc06")]


def _base_setting(name: str) -> Any:
    values = {key(n): v for n, v in MAIN["variables"]["appSettingsBase"]["value"].items()}
    return values[name]


def _max_concurrent_sessions() -> int:
    host = json.loads((ROOT / "host.json").read_text())
    return int(host["extensions"]["serviceBus"]["maxConcurrentSessions"])


def test_thread_pool_matches_the_runners_session_concurrency() -> None:
    threads = int(_base_setting("PYTHON_THREADPOOL_THREAD_COUNT"))
    assert threads == _max_concurrent_sessions()
    assert threads <= 32  # the setting's documented maximum (functions-app-settings)
    # Every thread can hold a Cosmos connection (claim, mark) at once.
    assert CosmosOptions().connection_pool_size >= threads


def test_the_plan_is_flex_consumption_so_no_worker_process_count_is_set() -> None:
    plan = FUNCTION_APP["resources"]["plan"]
    assert plan["type"] == "Microsoft.Web/serverfarms"
    assert plan["config"]["sku"]["name"] == "FC1"
    for region_file in REGION_FILES:
        assert "FUNCTIONS_WORKER_PROCESS_COUNT" not in app_settings(region_file)


@pytest.mark.parametrize("region_file", REGION_FILES, ids=lambda f: f.path.name)
def test_a_queue_builder_run_ends_before_the_next_tick(region_file: Any) -> None:
    tuning = region_file.values["tuning"]
    interval = schedule_interval_s(tuning["QUEUE_BUILDER_SCHEDULE"])
    assert interval is not None, "the schedule has a fixed interval the drain can be checked against"
    drain = float(tuning["QUEUE_BUILDER_DRAIN_S"])
    assert drain <= interval - TIMER_MARGIN_S
    assert drain >= interval - 2 * TIMER_MARGIN_S  # and it uses the interval (issue 15: 8 of 10 s before)
