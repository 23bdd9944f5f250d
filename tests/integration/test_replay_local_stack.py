"""Replay over WAL segments on the real local services: segments in both Azurite accounts (the
dual-region WAL, as composed in Azure), records in the Cosmos server (looked up by ReadMany), the
re-published messages sent to the Service Bus endpoint and read back with the unmodified SDK.

Three segments in two epochs; every record of the first and one of the second are final. The walk
must publish exactly the other two, in ingest order, each carrying its WAL locator, a large one by
claim check whose ranged read from Azurite the runner's path (``read_entry``) serves; its watermark
must stop after the first segment.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from dev.adapters.servicebus_consumer import ServiceBusSessionConsumer
from dev.servicebus.config import QueueConfig
from dev.servicebus.process import EndpointProcess
from shared.adapters.blob_wal import BlobWriteAheadLog
from shared.adapters.cosmos_store import CosmosIdempotencyStore
from shared.adapters.servicebus import ServiceBusStatementPublisher
from shared.model import InboundStatement, delivery_key_for
from shared.settings import Connection
from shared.wal_dual import DualRegionWriteAheadLog
from tests.twins import InMemoryCheckpointStore
from tests.unit.segments import write_segment
from watchdog.replay import WATERMARK, Replayer, activation_walk

pytestmark = pytest.mark.integration

CLAIM_CHECK_BYTES = 4096


@pytest.fixture
def endpoint() -> Iterator[EndpointProcess]:
    with EndpointProcess([QueueConfig("replayed", lock_duration_s=30, max_delivery_count=3)]) as process:
        yield process


def test_a_walk_republishes_the_non_final_records_of_azurite_segments(
    stack: dict[str, str], endpoint: EndpointProcess
) -> None:
    run = uuid.uuid4().hex[:8]
    own, peer = (
        BlobWriteAheadLog(Connection(f"WalStorage{region}", stack[f"STACK_BLOB_{region}"]), f"wal-{run}")
        for region in ("DC04", "DC06")
    )
    wal = DualRegionWriteAheadLog(own, peer, own_region="DC06", peer_region="DC04")
    store = CosmosIdempotencyStore(
        Connection("CosmosConnection", stack["STACK_COSMOS"]), "replay", f"records-{run}"
    )
    connection = Connection("ServiceBusConnection", connection_string=endpoint.connection_string)
    publisher = ServiceBusStatementPublisher(connection, "replayed", claim_check_bytes=CLAIM_CHECK_BYTES)
    at = datetime.now(UTC) - timedelta(minutes=5)
    large = b"ACC|" + b"x" * (2 * CLAIM_CHECK_BYTES)
    segments = [
        write_segment(wal, [(f"{run}-a{n}", "ACC", f"ACC|a{n}".encode()) for n in range(3)], at=at),
        write_segment(
            wal, [(f"{run}-b0", "ACC", b"ACC|b0"), (f"{run}-b1", "ACC", large)], at=at, first_sequence=4
        ),
        write_segment(wal, [(f"{run}-c0", "ACC", b"ACC|c0")], at=at, epoch=2),
    ]
    final = [*segments[0].entries, segments[1].entries[0]]
    for entry in final:
        record = store.claim(
            message_id=entry.message_id,
            session_id=entry.session_id,
            region="DC04",
            epoch=entry.epoch,
            delivery_key=delivery_key_for(entry.message_id),
            lease_until=at,
            wal_name=entry.segment,
            sequence=entry.sequence,
            body_sha256=entry.sha256,
        )
        store.mark_delivered(record, {"pages": "1"})
    replayer = Replayer(wal=wal, store=store, publisher=publisher, checkpoints=InMemoryCheckpointStore())
    try:
        result = replayer.run_slice(activation_walk("DC06", 2), budget_s=30)
    finally:
        publisher.close()

    assert (result.segments, result.examined, result.already_final, result.republished) == (3, 6, 4, 2)
    assert result.done and result.checkpoint.position == segments[2].name
    assert result.checkpoint.final_through == segments[0].name
    watermark = replayer.checkpoints.get(WATERMARK)
    assert watermark is not None and watermark.final_through == segments[0].name

    received: list[InboundStatement] = []
    consumer = ServiceBusSessionConsumer(connection, "replayed", idle_s=1.0)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(received.append, stop, 1), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while len(received) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join(timeout=30)
    expected = [segments[1].entries[1], segments[2].entries[0]]
    assert [(m.message_id, m.wal, m.epoch, m.sequence) for m in received] == [
        (e.message_id, e.locator, e.epoch, e.sequence) for e in expected
    ]
    by_claim_check, inline = received
    assert by_claim_check.claim_check and by_claim_check.body is None
    assert wal.read_entry(by_claim_check.wal) == large  # what the runner reads for it
    wal.close()
    assert inline.body == b"ACC|c0" and not inline.claim_check
