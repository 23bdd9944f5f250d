"""Cosmos DB write unavailability against the real cosmosdb-server (through ``dev.cosmos_proxy``) with
the unmodified azure-cosmos SDK: the adapters raise ``WritesUnavailable`` on writes while reads go on,
the Watchdog's write probe fails, and the runner holds its message until writes come back: delivered
once, never given back to Service Bus (no delivery count spent)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from dev.cosmos_proxy import CosmosProxy
from dev.stack_services import COSMOS_KEY
from shared.adapters.cosmos_client import CosmosContainer, CosmosOptions
from shared.adapters.cosmos_control import CosmosCheckpointStore
from shared.adapters.cosmos_store import CosmosIdempotencyStore
from shared.breaker import WriteBreaker
from shared.errors import WritesUnavailable
from shared.model import RecordState, delivery_key_for
from shared.settings import Connection
from tests.unit.twins import Shared, inbound, put_statements
from transformation_runner.handler import Outcome
from watchdog.probes import cosmos_write_probe

pytestmark = pytest.mark.integration

FAST = CosmosOptions(connection_timeout_s=1.0, read_timeout_s=2.0, timeout_s=4.0, retry_total=0)


@pytest.fixture
def proxy(stack: dict[str, str]) -> Iterator[CosmosProxy]:
    cosmos = CosmosProxy(int(stack["STACK_COSMOS_PORT"])).start()
    yield cosmos
    cosmos.stop()


@pytest.fixture
def store(proxy: CosmosProxy) -> CosmosIdempotencyStore:
    connection = Connection("CosmosConnection", proxy.connection("DC06", COSMOS_KEY))
    return CosmosIdempotencyStore(connection, "writes", f"records-{uuid.uuid4().hex[:10]}", FAST)


def claim(store: CosmosIdempotencyStore, message_id: str) -> None:
    store.claim(
        message_id=message_id,
        session_id="CH93",
        region="DC06",
        epoch=2,
        delivery_key=delivery_key_for(message_id),
        lease_until=datetime.now(UTC),
        wal_name="",
        sequence=1,
    )


def test_writes_raise_writes_unavailable_while_reads_answer(
    proxy: CosmosProxy, store: CosmosIdempotencyStore
) -> None:
    claim(store, "before")
    checkpoints = CosmosCheckpointStore(
        CosmosContainer(
            Connection("CosmosConnection", proxy.connection("DC06", COSMOS_KEY)), "writes", "control", FAST
        )
    )
    probe = cosmos_write_probe(checkpoints, "DC06")
    assert probe() == "written"
    proxy.write_unavailable(True)
    try:
        with pytest.raises(WritesUnavailable):
            claim(store, "during")
        record = store.get("before")
        assert record is not None
        with pytest.raises(WritesUnavailable):
            store.mark_delivered(record, {})
        with pytest.raises(WritesUnavailable):
            probe()  # the health probe writes: it fails, and the Watchdog stops consumption
        assert store.get("before") == record and set(store.lookup(["before", "during"])) == {"before"}
    finally:
        proxy.write_unavailable(False)
    assert probe() == "written"
    claim(store, "after")


def test_the_runner_holds_its_message_through_a_write_outage(
    proxy: CosmosProxy, store: CosmosIdempotencyStore
) -> None:
    shared = Shared()
    shared.activate("DC04")
    put_statements(shared, 1)
    shared.queue_builder().run(budget_s=5)
    [message] = [inbound(s) for s in shared.publisher.sent]
    breaker = WriteBreaker()
    runner = shared.runner(
        store=store, breaker=breaker, write_hold_s=30, write_hold_step_s=0.2, sleep=time.sleep
    )
    assert store.get(message.message_id) is None  # the container exists (infra creates it in Azure)
    proxy.write_unavailable(True)
    seen_open = threading.Event()

    def failover_after_a_while() -> None:
        for _ in range(100):  # writes come back once the breaker has opened (and ~2 s have passed)
            if breaker.is_open:
                seen_open.set()
                break
            time.sleep(0.05)
        time.sleep(2.0)
        proxy.write_unavailable(False)

    thread = threading.Thread(target=failover_after_a_while)
    thread.start()
    try:
        assert runner.handle(message) is Outcome.DELIVERED  # no exception: the message was never given back
    finally:
        proxy.write_unavailable(False)
        thread.join()
    assert seen_open.is_set() and not breaker.is_open
    record = store.get(message.message_id)
    assert record is not None and record.state is RecordState.DELIVERED and record.attempts == 1
    assert len(shared.target.delivered) == 1
    assert proxy.status()["unavailable_503"] >= 1  # type: ignore[operator]  # the claim did meet 503s
