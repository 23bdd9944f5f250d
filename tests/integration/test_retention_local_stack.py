"""WAL retention through the real adapters: segments in both regions' Azurite accounts (the dual write,
``BlobWriteAheadLog``), records and the retention cursor in the local Cosmos server
(``CosmosIdempotencyStore``, ``CosmosCheckpointStore``). Each region runs its own retention on its
own account, as each region's Watchdog does (docs/storage.md#retention).

A blob in DC04's container that is not a segment is passed and never deleted. DC06's account sits
behind a TCP proxy: cut, its slice fails and deletes nothing; restored, the next slice deletes its
copy. Ages come from the segments' ``written_at`` (ingest minus 420 days) and the
retention's clock (the records become final during the test, so the clock is set 45 days ahead).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.storage.blob import BlobServiceClient

from dev.proxy import TcpProxy
from shared.adapters.blob_wal import BlobOptions, BlobWriteAheadLog
from shared.adapters.cosmos_client import CosmosContainer, CosmosOptions
from shared.adapters.cosmos_control import CosmosCheckpointStore
from shared.adapters.cosmos_store import CosmosIdempotencyStore
from shared.model import delivery_key_for
from shared.retention import DELETE, NOT_FINAL, RetentionPolicy
from shared.settings import Connection
from shared.wal_dual import DualRegionWriteAheadLog
from tests.twins.wal import make_segment
from watchdog.retention import UNREADABLE, Retention

pytestmark = pytest.mark.integration

BLOB = BlobOptions(connection_timeout_s=1.0, read_timeout_s=1.0, retry_total=1, retry_backoff_s=0.05)
COSMOS = CosmosOptions(connection_timeout_s=1.0, read_timeout_s=2.0, timeout_s=4.0, retry_total=1)
NOW = datetime.now(UTC)
POLICY = RetentionPolicy(message_ttl_days=14, dead_letter_days=30, audit_horizon_days=400)


@pytest.fixture
def dc06_proxy(stack: dict[str, str]) -> Iterator[TcpProxy]:
    proxy = TcpProxy(0, ("127.0.0.1", int(stack["STACK_BLOB_PORT_DC06"])))
    proxy.start()
    yield proxy
    proxy.stop()


def test_retention_deletes_final_old_segments_in_both_accounts_and_keeps_the_rest(
    stack: dict[str, str], dc06_proxy: TcpProxy
) -> None:
    run = uuid.uuid4().hex[:10]
    dc06 = stack["STACK_BLOB_DC06"].replace(
        f"127.0.0.1:{stack['STACK_BLOB_PORT_DC06']}", f"127.0.0.1:{dc06_proxy.port}"
    )
    wals = {
        "DC04": BlobWriteAheadLog(Connection("WalStorageDC04", stack["STACK_BLOB_DC04"]), f"wal-{run}", BLOB),
        "DC06": BlobWriteAheadLog(Connection("WalStorageDC06", dc06), f"wal-{run}", BLOB),
    }
    dual = DualRegionWriteAheadLog(wals["DC04"], wals["DC06"], own_region="DC04", peer_region="DC06")
    cosmos = Connection("CosmosConnection", stack["STACK_COSMOS"])
    store = CosmosIdempotencyStore(cosmos, "retention", f"records-{run}", COSMOS)
    checkpoints = CosmosCheckpointStore(CosmosContainer(cosmos, "retention", f"control-{run}", COSMOS))

    written = NOW - timedelta(days=420)
    done_ids = [f"{run}-done-{n}" for n in range(3)]
    open_ids = [f"{run}-open-{n}" for n in range(2)]
    done, done_data = make_segment(1, 1, [b"one", b"two", b"three"], message_ids=done_ids, at=written)
    kept, kept_data = make_segment(1, 4, [b"four", b"five"], message_ids=open_ids, at=written)
    for segment, data in ((done, done_data), (kept, kept_data)):
        dual.append(segment, data)
    for entry in (*done.entries, *kept.entries):
        record = store.claim(
            message_id=entry.message_id,
            session_id=entry.session_id,
            region="DC04",
            epoch=1,
            delivery_key=delivery_key_for(entry.message_id),
            lease_until=NOW + timedelta(minutes=1),
            wal_name=entry.segment,
            sequence=entry.sequence,
            body_sha256=entry.sha256,
        )
        if entry.message_id != open_ids[1]:  # one record of the second segment stays PENDING
            store.mark_delivered(record, {})

    # A blob in DC04's WAL container that is not a segment (no segment metadata: put there by hand).
    foreign = "0000000001/000000000002-DC04-foreign"
    blobs = BlobServiceClient.from_connection_string(stack["STACK_BLOB_DC04"])
    blobs.get_container_client(f"wal-{run}").upload_blob(foreign, b"not a segment")

    later = NOW + timedelta(days=45)
    retention = {
        region: Retention(region, wal, store, checkpoints, POLICY, clock=lambda: later)
        for region, wal in wals.items()
    }

    dc06_proxy.cut()
    failed = retention["DC06"].run_slice()
    assert failed.error is not None and not failed.done  # DC06's storage away: nothing deleted
    dc06_proxy.restore()

    assert retention["DC04"].run_slice().counts == {DELETE: 1, UNREADABLE: 1}  # passed, never deleted
    assert retention["DC04"].run_slice().counts == {NOT_FINAL: 1}  # the next slice lists after it
    names = sorted(blob.name for blob in blobs.get_container_client(f"wal-{run}").list_blobs())
    assert names == [foreign, kept.name]
    assert [info.name for info in wals["DC06"].list()] == [done.name, kept.name]  # its own account only

    assert retention["DC06"].run_slice().counts == {DELETE: 1, NOT_FINAL: 1}  # the retry
    assert [info.name for info in wals["DC06"].list()] == [kept.name]
    assert wals["DC06"].read_index(kept.name).info.count == 2  # the kept segment is intact
    assert checkpoints.get("retention:DC06") is not None  # the cursor lives in Cosmos
    records = store.lookup(done_ids)
    assert sorted(records) == sorted(done_ids)  # the records outlive the segment
