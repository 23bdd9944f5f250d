"""A region's runner in two processes (issue 15, item 5), on the local stack.

DC04 is started as the local host starts it (``python -m dev.region`` through ``LocalHost``) with
``BRIDGE_RUNNER_PROCESSES=2``: the region process and one runner-only child, each accepting sessions
from the region's own Service Bus endpoint. Both processes deliver (the folder outbox logs the pid of
each delivery), and the promises hold across them: every statement delivered exactly once, in put
order per account (the endpoint hands a session to one receiver at a time).

With ``BRIDGE_PER_FUNCTION=1`` (Flex Consumption's per-function scaling: the QueueBuilder and the
runner on instances of their own) the region process runs the QueueBuilder, the Watchdog and the
routes only, and both runner processes are its children: the region process delivers nothing.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev.adapters.folder_mq import put_message
from dev.adapters.messageway_folder import read_log
from dev.drill.generator import Planned, plan
from dev.drill.harness import _free_pair
from dev.host import LocalHost
from dev.servicebus.process import EndpointProcess

pytestmark = pytest.mark.integration
STATEMENTS, ACCOUNTS = 96, 16


@pytest.fixture
def host(stack: dict[str, str], endpoint: EndpointProcess, tmp_path: Path) -> Iterator[LocalHost]:
    run = uuid.uuid4().hex[:8]
    local = LocalHost(
        {**stack, "STACK_SERVICEBUS_DC04": endpoint.connection_string},
        state=tmp_path / "host",
        http_base=_free_pair(),
        overrides={
            # This test's own names on the shared stack (Redis database 12 belongs to it).
            "RedisConnection": stack["STACK_REDIS_DC04"].rsplit("/", 1)[0] + "/12",
            "WAL_CONTAINER": f"wal-{run}",
            "QUARANTINE_CONTAINER": f"quarantine-{run}",
            "OPERATIONS_CONTAINER": f"operations-{run}",
            "COSMOS_CONTAINER": f"records-{run}",
            "COSMOS_CONTROL_CONTAINER": f"control-{run}",
            "LOCAL_SESSIONS": "2",  # per process: neither process can hold every account at once
        },
    )
    yield local
    local.stop()


def deliver_all(host: LocalHost, extra: dict[str, str]) -> tuple[list[Planned], list[dict[str, str]]]:
    """Put the planned statements, start DC04 with ``extra``, wait for every delivery; (plan, log)."""
    import redis  # noqa: PLC0415 - only to clear this test's database

    redis.Redis.from_url(host.region_env("DC04")["RedisConnection"]).flushdb()
    planned = plan(STATEMENTS, accounts=ACCOUNTS, large_every=10_000)
    for item in planned:
        put_message(host.inbox, item.message_id, item.body)
    host.start_region("DC04", extra)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and len(list(host.outbox.glob("*.fin"))) < STATEMENTS:
        time.sleep(0.5)
    return planned, read_log(host.outbox)


def once_in_order(planned: list[Planned], log: list[dict[str, str]]) -> dict[str, int]:
    """Assert every statement delivered once, nothing else logged, put order per account; the
    deliveries by pid."""
    delivered = [e for e in log if e["outcome"] == "delivered"]
    assert len(delivered) == STATEMENTS, f"{len(delivered)} of {STATEMENTS} delivered in 180 s"
    # No duplicate: one delivery per message, and no second attempt of a delivered key.
    assert len({e["message_id"] for e in delivered}) == STATEMENTS
    assert [e for e in log if e["outcome"] != "delivered"] == []
    by_pid: defaultdict[str, int] = defaultdict(int)
    for entry in delivered:
        by_pid[entry["pid"]] += 1
    # Order per account: the log's order (one O_APPEND write per delivery) is the put order.
    put_order: defaultdict[str, list[str]] = defaultdict(list)
    for item in planned:
        put_order[item.account].append(item.message_id)
    delivered_order: defaultdict[str, list[str]] = defaultdict(list)
    for entry in delivered:
        delivered_order[entry["session_id"]].append(entry["message_id"])
    assert dict(delivered_order) == dict(put_order)
    return dict(by_pid)


def test_two_runner_processes_both_deliver_once_and_in_order(host: LocalHost) -> None:
    by_pid = once_in_order(*deliver_all(host, {"BRIDGE_RUNNER_PROCESSES": "2"}))
    # Both processes delivered: the region process and its one runner-only child.
    assert len(by_pid) == 2 and str(host.processes["DC04"].pid) in by_pid, by_pid


def test_per_function_the_region_process_delivers_nothing_its_two_children_everything(
    host: LocalHost,
) -> None:
    by_pid = once_in_order(*deliver_all(host, {"BRIDGE_RUNNER_PROCESSES": "2", "BRIDGE_PER_FUNCTION": "1"}))
    region_pid = host.processes["DC04"].pid
    children = {int(pid) for pid in by_pid}
    assert str(region_pid) not in by_pid, by_pid
    # Two runner processes delivered, each a child of the region process (its parent pid).
    assert len(children) == 2, by_pid
    for pid in children:
        assert int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == region_pid
