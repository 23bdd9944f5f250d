"""Reconciliation on the real local services: a planted stuck statement and a planted failed one.

One region composed as in Azure (``bootstrap.region_ports``, via ``dev.settings.dev_region``) on
Azurite, Redis, the Cosmos server and
the Service Bus endpoint, MQ and MessageWay as folders. Three statements go through the QueueBuilder
(WAL in both Azurite accounts, Service Bus); the runner handles two of them — one delivers, one is
refused (strict balance check) and quarantined — and never sees the third, which stays without a
record: stuck. The reconciliation reads only the durable records (WAL segments in Azurite, records in
the Cosmos server, the folder outbox, the journal in Azurite) and must find both; its report is a blob.
"""

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from azure.storage.blob import BlobServiceClient

from dev.adapters.folder_mq import put_message
from dev.settings import dev_region
from shared.model import InboundStatement, RecordState

GOLDEN = Path(__file__).parents[1] / "golden"
pytestmark = pytest.mark.integration


def test_reconciliation_finds_a_stuck_and_a_failed_statement(stack, endpoint, tmp_path) -> None:
    run = uuid.uuid4().hex[:8]
    redis_url = stack["STACK_REDIS_DC04"].rsplit("/", 1)[0] + "/10"  # database 10 belongs to this test
    redis.Redis.from_url(redis_url).flushdb()
    region, dev = dev_region(
        {
            "BRIDGE_REGION": "DC04",
            "ServiceBusConnection": endpoint.connection_string,
            "WalStorageDC04": stack["STACK_BLOB_DC04"],
            "WalStorageDC06": stack["STACK_BLOB_DC06"],
            "CosmosConnection": stack["STACK_COSMOS"],
            "RedisConnection": redis_url,
            "WAL_CONTAINER": f"wal-{run}",
            "QUARANTINE_CONTAINER": f"quarantine-{run}",
            "OPERATIONS_CONTAINER": f"operations-{run}",
            "COSMOS_CONTAINER": f"records-{run}",
            "COSMOS_CONTROL_CONTAINER": f"control-{run}",  # a lease of this test's own
            "BRIDGE_ROLE": "active",  # DC04 creates that lease on its first tick
            "MQ_INBOX_DIR": str(tmp_path / "inbox"),
            "MESSAGEWAY_OUTBOX_DIR": str(tmp_path / "outbox"),
            "CONSUMPTION_SWITCH_DIR": str(tmp_path / "switches"),
            "DEFAULT_SENDER_BIC": "BANKDEFFXXX",
            "DEFAULT_RECEIVER_BIC": "BANKUS33XXX",
            "RECONCILE_STUCK_AFTER_S": "1",
        }
    )
    ops = region.desk  # its journal: the operations container of both regions' WAL accounts
    assert ops is not None

    files = {"good": "cbpr_c105_1_1.xml", "failed": "as_sent_postfinance.xml", "stuck": "cbpr_p2_4_1.xml"}
    ids = {kind: uuid.uuid4().hex + uuid.uuid4().hex[:16] for kind in files}
    started = datetime.now(UTC)
    for kind, name in files.items():
        put_message(dev.inbox, ids[kind], (GOLDEN / name).read_bytes())
    assert region.watchdog.tick()["action"] == "activated"
    assert region.queue_builder.run(budget_s=10)["ingested"] == 3

    wal = region.ports.wal
    for entry in (e for info in wal.list() for e in wal.read_index(info.name).entries):
        if entry.message_id == ids["stuck"]:
            continue  # planted: taken off MQ and logged, never processed
        by_claim_check = entry.message_id == ids["good"]  # the runner reads it by range from Azurite
        region.runner.handle(
            InboundStatement(
                message_id=entry.message_id,
                session_id=entry.session_id,
                body=None if by_claim_check else wal.read_entry(entry.locator),
                wal=entry.locator,
                epoch=entry.epoch,
                sequence=entry.sequence,
                region=entry.region,
                claim_check=by_claim_check,
            )
        )
    good_record = region.ports.store.get(ids["good"])
    assert good_record is not None and good_record.state is RecordState.DELIVERED
    failed_record = region.ports.store.get(ids["failed"])
    assert failed_record is not None and failed_record.state is RecordState.FAILED
    assert region.ports.store.get(ids["stuck"]) is None
    time.sleep(1.5)  # older than RECONCILE_STUCK_AFTER_S

    report: dict[str, Any] = ops.reconciler.run(
        started - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1)
    )

    counts = report["counts"]
    assert counts["taken_off_mq"] == 3 and counts["delivered"] == 1 and counts["verified_at_target"] == 1
    assert [row["message_id"] for row in report["stuck"]] == [ids["stuck"]]
    assert report["stuck"][0]["state"] == "NO-RECORD"
    [failed] = report["failed"]
    assert failed["message_id"] == ids["failed"] and failed["reason"] == "unbalanced"
    assert failed["quarantine"] == f"quarantine-{run}/{ids['failed']}"
    assert counts["in_doubt"] == counts["missing_at_target"] == counts["out_of_order"] == 0
    # The report is a blob in the region's storage account, read back without the bridge's code.
    container = BlobServiceClient.from_connection_string(stack["STACK_BLOB_DC04"]).get_container_client(
        f"operations-{run}"
    )
    stored = json.loads(container.get_blob_client(report["stored_as"]).download_blob().readall())
    assert stored["counts"] == counts
    latest = json.loads(
        container.get_blob_client("reports/reconciliation/latest.json").download_blob().readall()
    )
    assert latest["stored_as"] == report["stored_as"]
    # The trace of the failed statement reads the same records.
    trace: dict[str, Any] = ops.tracer.trace(ids["failed"])
    assert [step["step"] for step in trace["steps"]] == ["ingested", "servicebus", "claim", "failed"]
    # The stuck one has no record: its trace finds it in the WAL segments' indexes by its id.
    stuck: dict[str, Any] = ops.tracer.trace(ids["stuck"])
    assert stuck["state"] == "NO-RECORD" and [s["step"] for s in stuck["steps"]] == ["ingested", "servicebus"]
