"""The drill's world as deployed: each region a failure domain of its own (issue #14).

Per region (DC04, DC06), as in ``infra/``: an app (``dev.region`` process), a Blob account (Azurite),
a Service Bus Premium namespace (its own :class:`~dev.servicebus.process.EndpointProcess`; no Geo-DR
pairing, no geo-replication: the dual-region WAL is the only replication), an Azure Managed Redis
instance (its own redis-server; :class:`~dev.redis_geo.GeoReplicator` models active geo-replication
between the two) and the region's replica of the ONE Cosmos DB account
(:class:`~dev.cosmos_proxy.CosmosProxy`: single write region DC04's West US 2, service-managed
failover after a modelled delay). Each app is given its own region's endpoints; the other region's
Blob account (the peer WAL copy) it reaches through a :class:`~dev.proxy.TcpProxy`, the only
cross-region road an app has, so it can be cut.

* :meth:`Topology.region_death` takes the region's app, Blob account, namespace, Redis and Cosmos
  region down at once (processes killed or stopped).
* :meth:`Topology.region_isolated` cuts the same by network, everything left running: the
  cross-region Blob roads reset both ways, geo-replication stalls, the region's Cosmos road resets
  (and, if it held the write region, writes are unavailable to all until the modelled failover).
* :meth:`Topology.region_restore` undoes either; the app comes back passive (operator step of
  ``bring_back``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dev.cosmos_proxy import CosmosProxy
from dev.proxy import TcpProxy
from dev.redis_geo import GeoReplicator
from dev.servicebus.process import EndpointProcess
from dev.stack import Stack
from dev.stack_services import COSMOS_KEY
from shared.model import REGIONS

#: Scaled local stand-in for the Cosmos service-managed failover (Azure: no fixed figure, see
#: dev.cosmos_proxy.AZURE_FAILOVER_ASSUMPTION_S). Scenarios may pass their own and name it.
LOCAL_COSMOS_FAILOVER_S = 20.0


def other(region: str) -> str:
    return next(r for r in REGIONS if r != region)


@dataclass
class Topology:
    """Both regions' services for one drill run (the harness owns it and stops it)."""

    stack: Stack
    servicebus: dict[str, EndpointProcess]
    cosmos_target_port: int
    cosmos_failover_s: float = LOCAL_COSMOS_FAILOVER_S
    mark: Callable[[str, str], object] = lambda name, detail: None
    cosmos: CosmosProxy = field(init=False)
    geo: GeoReplicator = field(init=False)
    peer_blob: dict[str, TcpProxy] = field(default_factory=dict)  # app region -> road to the other's Blob
    down: set[str] = field(default_factory=set)
    isolated: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.cosmos = CosmosProxy(self.cosmos_target_port, failover_after_s=self.cosmos_failover_s).start()
        self.geo = GeoReplicator({r: self.stack.port(f"redis-{r.lower()}") for r in REGIONS}).start()
        for region in REGIONS:
            road = TcpProxy(0, ("127.0.0.1", self.stack.port(f"blob-{other(region).lower()}")))
            road.start()
            self.peer_blob[region] = road

    def close(self) -> None:
        for closer in (self.geo.stop, self.cosmos.stop, *(p.stop for p in self.peer_blob.values())):
            with contextlib.suppress(Exception):
                closer()

    def region_settings(self, region: str, stack_env: dict[str, str]) -> dict[str, str]:
        """What ``region``'s app is given: its own region's endpoints, the peer Blob through a road."""
        peer = other(region)
        peer_blob = stack_env[f"STACK_BLOB_{peer}"].replace(
            f":{self.stack.port(f'blob-{peer.lower()}')}/", f":{self.peer_blob[region].port}/"
        )
        return {
            "ServiceBusConnection": self.servicebus[region].connection_string,
            "RedisConnection": stack_env[f"STACK_REDIS_{region}"],
            f"WalStorage{region}": stack_env[f"STACK_BLOB_{region}"],
            f"WalStorage{peer}": peer_blob,
            "CosmosConnection": self.cosmos.connection(region, COSMOS_KEY),
        }

    def timings(self) -> dict[str, object]:
        """The modelled service timings a report names."""
        return {
            "cosmos_service_managed_failover_s": self.cosmos.failover_after_s,
            "cosmos_write_region": self.cosmos.status()["write_region"],
            "redis_geo_replication_poll_s": self.geo.interval_s,
            "servicebus": "one namespace per region, no pairing (no failover step)",
        }

    # -- region-level faults ----------------------------------------------------------------------

    def region_death(self, region: str) -> None:
        """The region's Blob account, namespace, Redis and Cosmos region go down at once (the app is
        killed by the harness just before)."""
        self.cosmos.lose_region(region)
        self.servicebus[region].stop(kill=True)
        for service in (f"blob-{region.lower()}", f"redis-{region.lower()}"):
            self.stack.stop_service(service)
        self.down.add(region)
        self.mark(f"region death {region}", f"cosmos {self.cosmos.status()['write_region']} writes")

    def region_isolated(self, region: str) -> None:
        """Cut ``region`` off by network; every process stays alive."""
        self.cosmos.lose_region(region)
        self.peer_blob[region].cut()
        self.peer_blob[other(region)].cut()
        self.geo.stall()
        self.isolated.add(region)
        self.mark(f"region isolated {region}", "blob roads both ways, redis geo-replication, cosmos")

    def region_restore(self, region: str) -> None:
        """Bring ``region``'s services (or network) back; the app is the harness's to restart."""
        if region in self.down:
            for service in (f"blob-{region.lower()}", f"redis-{region.lower()}"):
                self.stack.start_service(service)
            self.servicebus[region].start()
            self.down.discard(region)
        if region in self.isolated:
            self.peer_blob[region].restore()
            self.peer_blob[other(region)].restore()
            self.geo.resume()
            self.isolated.discard(region)
        self.cosmos.recover_region(region)
        self.mark(f"region restored {region}", f"cosmos write region {self.cosmos.status()['write_region']}")

    def wait_cosmos_writable(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.cosmos.status()["writes_available"]:
                return True
            time.sleep(0.2)
        return False
