"""What the local stack runs: one :class:`ServiceSpec` per service, its command line and its probe.

Every service listens on 127.0.0.1 at ``port_base + offset`` (see :data:`OFFSETS`) and keeps its data
under ``.local/`` (Azurite on disk, so a restart keeps blobs; Redis and the Cosmos server in memory).
The probes speak just enough of each protocol to tell "answers" from "a port is open".
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Azurite's well-known development account. Public (documented by Microsoft) and local-only.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
#: The Cosmos server checks no signature; any base64 key will do ("local-cosmos-key").
COSMOS_KEY = "bG9jYWwtY29zbW9zLWtleQ=="

OFFSETS = {
    "blob-dc04": 0,
    "blob-dc06": 1,
    "redis-dc04": 2,
    "redis-dc06": 3,
    "cosmos": 4,
    "servicebus": 5,  # DC04's namespace (the name predates the second one)
    "servicebus-dc06": 6,  # DC06's namespace: one Premium namespace per region, no pairing
}
SERVICE_NAMES = tuple(OFFSETS)
HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServiceSpec:
    """How to start and probe one service; ``marker`` identifies its process in ``/proc/<pid>/cmdline``."""

    name: str
    port: int
    command: list[str]
    probe: Callable[[int], bool]
    marker: str


def _exchange(port: int, request: bytes, timeout: float) -> bytes:
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(request)
        return sock.recv(64)


def probe_http(port: int, timeout: float = 1.0) -> bool:
    """True if an HTTP server answers (any status) on ``port``."""
    try:
        reply = _exchange(port, b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", timeout)
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.")


def probe_redis(port: int, timeout: float = 0.5) -> bool:
    """True if a Redis server answers ``PING`` with ``+PONG`` (RESP, https://redis.io/docs/latest/develop/reference/protocol-spec/)."""
    try:
        return _exchange(port, b"PING\r\n", timeout).startswith(b"+PONG")
    except OSError:
        return False


def probe_amqp(port: int, timeout: float = 1.0) -> bool:
    """True if an AMQP 1.0 server answers the protocol header with its own (AMQP 1.0 spec, 2.2)."""
    try:
        return _exchange(port, b"AMQP\x00\x01\x00\x00", timeout).startswith(b"AMQP")
    except OSError:
        return False


def redis_info(port: int, section: str, timeout: float = 1.0) -> dict[str, str]:
    """``INFO <section>`` as a dict (empty when the server does not answer)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(f"INFO {section}\r\n".encode())
            data = b""
            while b"\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    return {}
                data += chunk
            header, _, data = data.partition(b"\r\n")
            if not header.startswith(b"$"):
                return {}
            size = int(header[1:])
            while len(data) < size:
                chunk = sock.recv(4096)
                if not chunk:
                    return {}
                data += chunk
    except (OSError, ValueError):
        return {}
    lines = data[:size].decode(errors="replace").splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


def specs(root: Path, port_base: int, local: Path) -> dict[str, ServiceSpec]:
    """Every service of the stack of repository ``root``, by name; data under ``local``."""
    bin_dir = root / "node_modules" / ".bin"
    port = {name: port_base + offset for name, offset in OFFSETS.items()}

    def azurite(name: str) -> ServiceSpec:
        command = [
            str(bin_dir / "azurite-blob"),
            *("--blobHost", HOST, "--blobPort", str(port[name])),
            *("--location", str(local / name)),
            *("--skipApiVersionCheck", "--disableTelemetry", "--silent"),
        ]
        return ServiceSpec(name, port[name], command, probe_http, f"--blobPort\0{port[name]}")

    def redis(name: str) -> ServiceSpec:
        command = [
            "redis-server",
            *("--port", str(port[name]), "--bind", HOST),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            *("--dir", str(local / name)),
            # A test that makes one a replica (REPLICAOF) gets it synced at once, not after 5 s.
            *("--repl-diskless-sync-delay", "0"),
            *("--repl-ping-replica-period", "1"),
        ]
        return ServiceSpec(name, port[name], command, probe_redis, f":{port[name]}")

    cosmos_cmd = [str(bin_dir / "cosmosdb-server"), "--host", HOST, "--port", str(port["cosmos"]), "--no-ssl"]

    def servicebus(name: str) -> ServiceSpec:
        command = [
            sys.executable,
            *("-m", "dev.servicebus", "--port", str(port[name])),
            *("--data-dir", str(local / name)),
        ]
        return ServiceSpec(name, port[name], command, probe_amqp, f"--port\0{port[name]}")

    return {
        "blob-dc04": azurite("blob-dc04"),
        "blob-dc06": azurite("blob-dc06"),
        "redis-dc04": redis("redis-dc04"),
        "redis-dc06": redis("redis-dc06"),
        "cosmos": ServiceSpec("cosmos", port["cosmos"], cosmos_cmd, probe_http, f"--port\0{port['cosmos']}"),
        "servicebus": servicebus("servicebus"),
        "servicebus-dc06": servicebus("servicebus-dc06"),
    }


def stack_env(port_base: int) -> dict[str, str]:
    """The ``.local/stack.env`` keys other tests read, for the stack at ``port_base``."""
    port = {name: port_base + offset for name, offset in OFFSETS.items()}

    def blob(name: str) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://{HOST}:{port[name]}/{AZURITE_ACCOUNT};"
        )

    return {
        "STACK_BLOB_DC04": blob("blob-dc04"),
        "STACK_BLOB_DC06": blob("blob-dc06"),
        "STACK_BLOB_PORT_DC04": str(port["blob-dc04"]),
        "STACK_BLOB_PORT_DC06": str(port["blob-dc06"]),
        "STACK_REDIS_DC04": f"redis://{HOST}:{port['redis-dc04']}/0",
        "STACK_REDIS_DC06": f"redis://{HOST}:{port['redis-dc06']}/0",
        "STACK_REDIS_PORT_DC04": str(port["redis-dc04"]),
        "STACK_REDIS_PORT_DC06": str(port["redis-dc06"]),
        "STACK_COSMOS": f"AccountEndpoint=http://{HOST}:{port['cosmos']}/;AccountKey={COSMOS_KEY}",
        "STACK_COSMOS_PORT": str(port["cosmos"]),
        "STACK_SERVICEBUS": servicebus_connection(port["servicebus"]),
        "STACK_SERVICEBUS_PORT": str(port["servicebus"]),
        "STACK_SERVICEBUS_DC04": servicebus_connection(port["servicebus"]),
        "STACK_SERVICEBUS_DC06": servicebus_connection(port["servicebus-dc06"]),
        "STACK_SERVICEBUS_PORT_DC06": str(port["servicebus-dc06"]),
    }


def servicebus_connection(port: int) -> str:
    """The connection string of a local Service Bus endpoint on ``port`` (one per region)."""
    return (
        f"Endpoint=sb://{HOST}:{port};SharedAccessKeyName=local;"
        "SharedAccessKey=local;UseDevelopmentEmulator=true"
    )
