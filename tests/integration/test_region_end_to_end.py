"""One region on the real local services: the same composition as in Azure (``bootstrap.region_ports``)
with Azurite, Redis, the Cosmos server and a Service Bus endpoint; MQ and MessageWay are the folders
the dev stack hands in (``dev.settings.dev_region``), as the local host does.

Statements go in through the inbox and come out of the outbox as MT950; a broken one is recorded
FAILED and quarantined while its session continues; a replay afterwards republishes nothing.
"""

import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
from azure.storage.blob import BlobServiceClient

from dev.adapters.folder_mq import put_message
from dev.adapters.servicebus_consumer import ServiceBusSessionConsumer
from dev.settings import dev_region
from shared.model import RecordState, delivery_key_for

GOLDEN = Path(__file__).parents[1] / "golden"
pytestmark = pytest.mark.integration


def test_statements_flow_through_one_region_on_real_services(stack, endpoint, tmp_path) -> None:
    run = uuid.uuid4().hex[:8]
    redis_url = stack["STACK_REDIS_DC04"].rsplit("/", 1)[0] + "/9"  # database 9 belongs to this test
    redis.Redis.from_url(redis_url).flushdb()
    region, dev = dev_region(
        {
            "BRIDGE_REGION": "DC04",
            "BRIDGE_ROLE": "active",
            "ServiceBusConnection": endpoint.connection_string,
            "WalStorageDC04": stack["STACK_BLOB_DC04"],
            "WalStorageDC06": stack["STACK_BLOB_DC06"],
            "CosmosConnection": stack["STACK_COSMOS"],
            "RedisConnection": redis_url,
            "WAL_CONTAINER": f"wal-{run}",
            "QUARANTINE_CONTAINER": f"quarantine-{run}",
            "COSMOS_CONTAINER": f"records-{run}",
            "COSMOS_CONTROL_CONTAINER": f"control-{run}",
            "MQ_INBOX_DIR": str(tmp_path / "inbox"),
            "MESSAGEWAY_OUTBOX_DIR": str(tmp_path / "outbox"),
            "CONSUMPTION_SWITCH_DIR": str(tmp_path / "switches"),
            "DEFAULT_SENDER_BIC": "BANKDEFFXXX",
            "DEFAULT_RECEIVER_BIC": "BANKUS33XXX",
        }
    )
    settings = region.settings

    good = ["cbpr_c105_1_1.xml", "genkgo_v2_multi_statement.xml"]
    ids = {name: uuid.uuid4().hex + uuid.uuid4().hex[:16] for name in [*good, "broken"]}
    put_message(dev.inbox, ids[good[0]], (GOLDEN / good[0]).read_bytes())
    put_message(dev.inbox, ids["broken"], b"<Document><unclosed>")
    put_message(dev.inbox, ids[good[1]], (GOLDEN / good[1]).read_bytes())

    assert region.watchdog.tick()["action"] == "activated"  # DC04 takes the gate, consumption on
    assert region.queue_builder.run(budget_s=10)["ingested"] == 3

    stop = threading.Event()
    consumer = ServiceBusSessionConsumer(settings.servicebus, settings.queue_name, idle_s=1.0)
    thread = threading.Thread(target=consumer.run, args=(region.runner.handle, stop, 2), daemon=True)
    thread.start()
    outbox = dev.outbox
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(outbox.glob("*.fin"))) < 2:
        time.sleep(0.2)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and consumer.completed < 3:
        time.sleep(0.2)
    stop.set()
    thread.join(timeout=15)

    for name in good:
        fin = (outbox / f"{delivery_key_for(ids[name])}.fin").read_text()
        assert fin.startswith("{1:F01") and "{2:I950" in fin and fin.rstrip().endswith("-}")
        record = region.ports.store.get(ids[name])
        assert record is not None and record.state is RecordState.DELIVERED
    broken = region.ports.store.get(ids["broken"])
    assert broken is not None and broken.state is RecordState.FAILED and broken.reason
    blobs = BlobServiceClient.from_connection_string(stack["STACK_BLOB_DC04"])
    kept = blobs.get_blob_client(f"quarantine-{run}", ids["broken"]).download_blob().readall()
    assert kept == b"<Document><unclosed>"
    # Both regions' WAL accounts hold the unit's one segment, the same bytes; a replay finds all final.
    copies = []
    for key in ("STACK_BLOB_DC04", "STACK_BLOB_DC06"):
        container = BlobServiceClient.from_connection_string(stack[key]).get_container_client(f"wal-{run}")
        [blob] = container.list_blobs(include=["metadata"])
        assert blob.metadata["count"] == "3"
        copies.append(container.download_blob(blob.name).readall())
    assert copies[0] == copies[1]
    result = region.watchdog.replayer.run()
    assert result.examined == 3 and result.republished == 0
    assert consumer.abandoned == 0
