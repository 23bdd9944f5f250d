"""A local model of the deployed Cosmos DB account's regions in front of one ``cosmosdb-server``.

Deployed (docs/protocols.md, infra/): one account, ONE write region (West US 2, DC04's; failover
priority 0), read regions West Central US (DC06's, priority 1) and West US 3 (priority 2, a third
replica with no app), Strong consistency, service-managed failover enabled. Each region's app reaches
the account through its own region. What the app can observe of that, modelled here:

* :class:`CosmosProxy` listens on one port per app region and forwards HTTP to the single server
  (one data set: Strong consistency, RPO 0, so every region reads what was written).
* :meth:`CosmosProxy.lose_region` (region death or isolation): that region's port resets every
  request. If it is the write region, WRITES become unavailable to everyone (HTTP 503) until a
  modelled **service-managed failover** after ``failover_after_s`` moves the write region to the next
  priority, or an operator's :meth:`CosmosProxy.force_failover` does it at once. Losing a read region
  keeps writes (three regions: dynamic quorum,
https://learn.microsoft.com/azure/cosmos-db/consistency-levels ;
  "Cosmos DB instances utilizing Strong consistency need to configure at least three regions to retain
  write availability if there is one region failure",
  https://learn.microsoft.com/azure/reliability/resiliency-recommendations/recommend-cosmos-db-nosql).
* :meth:`CosmosProxy.write_unavailable` turns write unavailability on/off by hand; :meth:`isolate`
  cuts one region's road without touching the write region.

The failover delay: "In case of an outage in the write region, clients will experience write
availability loss until Cosmos DB automatically elects a new region as the new write region"
(https://learn.microsoft.com/azure/reliability/reliability-cosmos-db); Microsoft gives **no fixed
figure**: an RTO "< 15 minutes" for multi-region single-write accounts was published in
consistency-levels.md and later removed. :data:`AZURE_FAILOVER_ASSUMPTION_S` (900 s) is that former
bound, used as an explicit ASSUMPTION for Azure; drills pass a scaled local value and name it.
A write is any request but GET/HEAD and query POSTs (``x-ms-documentdb-isquery``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: ASSUMPTION (labelled): Microsoft's former "RTO < 15 minutes" for single-write-region accounts.
AZURE_FAILOVER_ASSUMPTION_S = 900.0
#: Failover priorities of the deployed account (infra/): DC04's West US 2, DC06's West Central US,
#: West US 3 (no app).
PRIORITIES = ("DC04", "DC06", "WUS3")
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te"}


@dataclass
class _State:
    write_region: str = PRIORITIES[0]
    lost: set[str] = field(default_factory=set)
    isolated: set[str] = field(default_factory=set)
    road_kept: set[str] = field(default_factory=set)  # lost Cosmos regions whose apps read elsewhere
    writes_down: bool = False  # by hand (write_unavailable)
    failover_at: float | None = None  # when the modelled service-managed failover completes
    failovers: list[dict[str, object]] = field(default_factory=list)
    refused: int = 0
    unavailable: int = 0


class CosmosProxy:
    """One listening port per app region in front of the Cosmos server at ``target_port``."""

    def __init__(
        self,
        target_port: int,
        regions: tuple[str, ...] = ("DC04", "DC06"),
        failover_after_s: float = AZURE_FAILOVER_ASSUMPTION_S,
        host: str = "127.0.0.1",
    ) -> None:
        self.target = (host, target_port)
        self.regions = regions
        self.failover_after_s = failover_after_s
        self.state = _State()
        self._lock = threading.Lock()
        self._servers: dict[str, ThreadingHTTPServer] = {}

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> CosmosProxy:
        for region in self.regions:
            server = _QuietServer(("127.0.0.1", 0), _handler(self, region))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name=f"cosmos-{region}", daemon=True).start()
            self._servers[region] = server
        return self

    def stop(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()

    def port(self, region: str) -> int:
        return int(self._servers[region].server_address[1])

    def connection(self, region: str, key: str) -> str:
        """The connection string ``region``'s app uses (its own region's endpoint)."""
        return f"AccountEndpoint=http://127.0.0.1:{self.port(region)}/;AccountKey={key}"

    # -- faults ---------------------------------------------------------------------------------

    def lose_region(self, region: str, road: bool = True) -> None:
        """``region``'s Cosmos region is gone (or cut off): its road resets; if it holds the write
        region, writes are unavailable to all until the modelled failover. ``road=False``: only the
        Cosmos region is lost, the app's region is fine and its SDK reads from another Cosmos region
        (preferred regions), so the road stays and only writes fail."""
        with self._lock:
            self.state.lost.add(region)
            if not road:
                self.state.road_kept.add(region)
            if region == self.state.write_region and self.state.failover_at is None:
                self.state.failover_at = time.time() + self.failover_after_s

    def recover_region(self, region: str) -> None:
        """``region`` is back (as a read region, if the write region moved meanwhile)."""
        with self._lock:
            self._settle()
            self.state.lost.discard(region)
            self.state.road_kept.discard(region)
            if region == self.state.write_region:
                self.state.failover_at = None

    def force_failover(self, to: str | None = None) -> str:
        """The operator's forced failover: the write region moves now (default: next priority alive)."""
        with self._lock:
            self._move_write_region(to, "forced")
            return self.state.write_region

    def isolate(self, region: str) -> None:
        """Cut ``region``'s road to the account (resets) without changing the write region."""
        with self._lock:
            self.state.isolated.add(region)

    def restore(self, region: str) -> None:
        with self._lock:
            self.state.isolated.discard(region)

    def write_unavailable(self, on: bool = True) -> None:
        """Writes answer 503 for everyone (by hand), until called with ``False``."""
        with self._lock:
            self.state.writes_down = on

    def status(self) -> dict[str, object]:
        with self._lock:
            self._settle()
            s = self.state
            return {
                "write_region": s.write_region,
                "lost": sorted(s.lost),
                "isolated": sorted(s.isolated),
                "writes_available": self._writes_ok(),
                "failover_after_s": self.failover_after_s,
                "failovers": list(s.failovers),
                "refused": s.refused,
                "unavailable_503": s.unavailable,
            }

    # -- internals (called with the lock held) --------------------------------------------------

    def _settle(self) -> None:
        s = self.state
        if s.failover_at is not None and time.time() >= s.failover_at:
            self._move_write_region(None, "service-managed")

    def _move_write_region(self, to: str | None, how: str) -> None:
        s = self.state
        target = to or next((r for r in PRIORITIES if r not in s.lost and r != s.write_region), None)
        if target is None or target == s.write_region:
            return
        s.failovers.append({"from": s.write_region, "to": target, "how": how, "at": time.time()})
        s.write_region, s.failover_at = target, None

    def _writes_ok(self) -> bool:
        s = self.state
        return not s.writes_down and s.write_region not in s.lost

    def decide(self, region: str, write: bool) -> str:
        """``"forward"``, ``"reset"`` (the road is cut) or ``"503"`` (writes unavailable)."""
        with self._lock:
            self._settle()
            s = self.state
            if (region in s.lost and region not in s.road_kept) or region in s.isolated:
                self.state.refused += 1
                return "reset"
            if write and not self._writes_ok():
                self.state.unavailable += 1
                return "503"
            return "forward"


class _QuietServer(ThreadingHTTPServer):
    """A client that went away mid-request (a reset road, a killed region) is expected here."""

    def handle_error(self, request: object, client_address: object) -> None:
        return


def _is_write(method: str, headers: dict[str, str]) -> bool:
    if method in ("GET", "HEAD"):
        return False
    query = headers.get("x-ms-documentdb-isquery", "").lower() == "true"
    return not (method == "POST" and (query or "query+json" in headers.get("content-type", "")))


def _handler(proxy: CosmosProxy, region: str) -> type[BaseHTTPRequestHandler]:
    local = threading.local()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _relay(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            decision = proxy.decide(region, _is_write(self.command, headers))
            if decision == "reset":
                self._reset()
                return
            if decision == "503":
                self._answer(
                    503, {"code": "ServiceUnavailable", "message": "write region unavailable (modelled)"}
                )
                return
            try:
                status, reason, answer_headers, answer = self._forward(body)
            except (OSError, http.client.HTTPException):
                self._reset()
                return
            self.send_response(status, reason)
            for name, value in answer_headers:
                if name.lower() not in _HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
            for attempt in range(2):  # a pooled upstream connection the server closed: once more
                connection: http.client.HTTPConnection | None = getattr(local, "connection", None)
                if connection is None:
                    connection = local.connection = http.client.HTTPConnection(*proxy.target, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    return response.status, response.reason, response.getheaders(), response.read()
                except (OSError, http.client.HTTPException):
                    connection.close()
                    local.connection = None
                    if attempt:
                        raise
            raise AssertionError("unreachable")

        def _answer(self, status: int, payload: dict[str, str]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("x-ms-substatus", "0")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _reset(self) -> None:
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _relay  # noqa: N815

    return Handler
