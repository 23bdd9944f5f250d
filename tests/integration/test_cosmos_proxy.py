"""dev.cosmos_proxy in front of the real cosmosdb-server, with the unmodified azure-cosmos SDK: the
deployed account's single write region, its loss, the modelled service-managed failover, an operator's
forced failover, and the loss of a read region (writes go on)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import CosmosClient, PartitionKey
from azure.cosmos.container import ContainerProxy
from azure.cosmos.exceptions import CosmosHttpResponseError

from dev.cosmos_proxy import CosmosProxy
from dev.stack_services import COSMOS_KEY

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(stack: dict[str, str]) -> Iterator[CosmosProxy]:
    cosmos = CosmosProxy(int(stack["STACK_COSMOS_PORT"]), failover_after_s=1.5).start()
    yield cosmos
    cosmos.stop()


def _container(proxy: CosmosProxy, region: str, name: str) -> ContainerProxy:
    client = CosmosClient.from_connection_string(
        proxy.connection(region, COSMOS_KEY), enable_endpoint_discovery=False, retry_total=0
    )
    database = client.create_database_if_not_exists(name)
    return database.create_container_if_not_exists("items", partition_key=PartitionKey("/id"))


def test_losing_the_write_region_stops_writes_everywhere_until_the_service_fails_over(
    proxy: CosmosProxy,
) -> None:
    name = f"proxy-{uuid.uuid4().hex[:10]}"
    dc04, dc06 = _container(proxy, "DC04", name), _container(proxy, "DC06", name)
    dc04.create_item({"id": "before"})
    assert dc06.read_item("before", partition_key="before")["id"] == "before"  # one data set

    proxy.lose_region("DC04")
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        dc04.read_item("before", partition_key="before")  # DC04's road resets
    with pytest.raises(CosmosHttpResponseError) as refused:
        dc06.upsert_item({"id": "during"})
    assert refused.value.status_code == 503
    assert dc06.read_item("before", partition_key="before")["id"] == "before"  # reads go on
    assert proxy.status()["writes_available"] is False

    time.sleep(1.6)  # the modelled service-managed failover
    dc06.upsert_item({"id": "after"})
    status = proxy.status()
    assert status["write_region"] == "DC06"
    failovers: list[dict[str, str]] = status["failovers"]  # type: ignore[assignment]
    assert [(f["from"], f["to"], f["how"]) for f in failovers] == [("DC04", "DC06", "service-managed")]


def test_a_forced_failover_restores_writes_at_once(proxy: CosmosProxy) -> None:
    name = f"proxy-{uuid.uuid4().hex[:10]}"
    dc06 = _container(proxy, "DC06", name)
    proxy.failover_after_s = 3600
    proxy.lose_region("DC04")
    with pytest.raises(CosmosHttpResponseError):
        dc06.upsert_item({"id": "during"})
    assert proxy.force_failover() == "DC06"
    dc06.upsert_item({"id": "after"})
    proxy.recover_region("DC04")  # back as a read region: the write region stays DC06
    assert proxy.status()["write_region"] == "DC06"


def test_losing_a_read_region_keeps_writes(proxy: CosmosProxy) -> None:
    name = f"proxy-{uuid.uuid4().hex[:10]}"
    dc04 = _container(proxy, "DC04", name)
    proxy.lose_region("DC06")
    dc04.upsert_item({"id": "still"})  # three regions: dynamic quorum keeps writes
    assert proxy.status()["writes_available"] is True
    assert dc04.query_items("SELECT * FROM c", enable_cross_partition_query=True) is not None
