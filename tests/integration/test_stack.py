"""The local stack: one call starts every service, each answers its real client, faults keep data."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import redis
from azure.cosmos import CosmosClient, PartitionKey
from azure.cosmos.exceptions import CosmosResourceNotFoundError
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.storage.blob import BlobServiceClient

from dev.proxy import TcpProxy
from dev.stack import Stack, StackError, free_port_base
from dev.stack_services import stack_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_KEYS = {
    "STACK_BLOB_DC04",
    "STACK_BLOB_DC06",
    "STACK_BLOB_PORT_DC04",
    "STACK_BLOB_PORT_DC06",
    "STACK_REDIS_DC04",
    "STACK_REDIS_DC06",
    "STACK_REDIS_PORT_DC04",
    "STACK_REDIS_PORT_DC06",
    "STACK_COSMOS",
    "STACK_COSMOS_PORT",
    "STACK_SERVICEBUS",
    "STACK_SERVICEBUS_PORT",
    "STACK_SERVICEBUS_DC04",
    "STACK_SERVICEBUS_DC06",
    "STACK_SERVICEBUS_PORT_DC06",
}


def test_up_writes_every_key(stack: dict[str, str], local_stack: Stack) -> None:
    assert set(stack) == EXPECTED_KEYS
    assert local_stack.env() == stack
    lines = local_stack.env_file.read_text().splitlines()
    assert sorted(line.split("=", 1)[0] for line in lines) == sorted(EXPECTED_KEYS)
    assert stack["STACK_REDIS_DC04"] == f"redis://127.0.0.1:{stack['STACK_REDIS_PORT_DC04']}/0"
    assert f"127.0.0.1:{stack['STACK_BLOB_PORT_DC06']}/devstoreaccount1" in stack["STACK_BLOB_DC06"]
    assert stack["STACK_COSMOS"].startswith(
        f"AccountEndpoint=http://127.0.0.1:{stack['STACK_COSMOS_PORT']}/;"
    )
    assert "UseDevelopmentEmulator=true" in stack["STACK_SERVICEBUS"]
    assert stack["STACK_SERVICEBUS_DC04"] == stack["STACK_SERVICEBUS"]
    assert f"sb://127.0.0.1:{stack['STACK_SERVICEBUS_PORT_DC06']};" in stack["STACK_SERVICEBUS_DC06"]


def test_up_again_reuses_running_services(local_stack: Stack) -> None:
    before = {name: local_stack.pid(name) for name in local_stack.names}
    local_stack.up()
    assert {name: local_stack.pid(name) for name in local_stack.names} == before
    assert all(local_stack.status().values())


def test_status_command_reports_every_service_up(local_stack: Stack) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dev.stack", "status"],
        cwd=ROOT,
        env={**os.environ, "BRIDGE_STACK_PORT_BASE": str(local_stack.port_base)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    states = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    assert states == dict.fromkeys(local_stack.names, "up")


def test_each_region_has_its_own_blob_service(stack: dict[str, str]) -> None:
    name = f"stack-{uuid.uuid4().hex[:12]}"
    dc04 = BlobServiceClient.from_connection_string(stack["STACK_BLOB_DC04"])
    dc06 = BlobServiceClient.from_connection_string(stack["STACK_BLOB_DC06"])
    dc04.create_container(name)
    assert dc04.get_container_client(name).exists()
    assert not dc06.get_container_client(name).exists()


def test_each_region_has_its_own_writable_redis(stack: dict[str, str]) -> None:
    # As deployed: one Azure Managed Redis instance per region, both primaries; nothing replicates
    # between the stack's two (dev.redis_geo models active geo-replication where a run needs it).
    dc04 = redis.Redis.from_url(stack["STACK_REDIS_DC04"], socket_timeout=2)
    dc06 = redis.Redis.from_url(stack["STACK_REDIS_DC06"], socket_timeout=2)
    assert dc04.info("replication")["role"] == dc06.info("replication")["role"] == "master"
    key = f"stack-test:{uuid.uuid4().hex}"
    dc04.set(key, "from-dc04", px=60_000)
    dc06.set(key, "from-dc06", px=60_000)
    assert (dc04.get(key), dc06.get(key)) == (b"from-dc04", b"from-dc06")
    dc04.delete(key)
    dc06.delete(key)


def test_cosmos_answers_404_for_a_missing_item(stack: dict[str, str]) -> None:
    client = CosmosClient.from_connection_string(stack["STACK_COSMOS"], enable_endpoint_discovery=False)
    database = client.create_database_if_not_exists(f"stack-{uuid.uuid4().hex[:12]}")
    container = database.create_container_if_not_exists("items", partition_key=PartitionKey("/pk"))
    container.create_item({"id": "present", "pk": "p"})
    assert container.read_item("present", partition_key="p")["id"] == "present"
    with pytest.raises(CosmosResourceNotFoundError):
        container.read_item("missing", partition_key="p")


def test_proxy_cut_and_restore_in_front_of_redis(stack: dict[str, str]) -> None:
    with TcpProxy(0, ("127.0.0.1", int(stack["STACK_REDIS_PORT_DC04"]))) as proxy:
        client = redis.Redis(port=proxy.port, socket_timeout=0.5, socket_connect_timeout=0.5, retry=None)  # type: ignore[arg-type]  # no retries
        assert client.ping()
        proxy.cut()
        with pytest.raises(redis.ConnectionError):
            client.ping()
        proxy.restore()
        assert client.ping()
        proxy.cut("hold")
        with pytest.raises(redis.TimeoutError):
            client.ping()
        proxy.restore()
        assert client.ping()


@pytest.fixture
def private_stack(tmp_path: Path) -> Iterator[Stack]:
    """A throwaway stack on its own ports and state directory, so stopping a service disturbs no one."""
    private = Stack(ROOT, free_port_base(), state_dir=tmp_path / "state")
    try:
        yield private
    finally:
        private.down()


def test_servicebus_send_and_receive_per_region(private_stack: Stack) -> None:
    # On private endpoints: the shared stack's queue has real consumers (the two-region host).
    private_stack.start_service("servicebus")
    private_stack.start_service("servicebus-dc06")
    env = stack_env(private_stack.port_base)
    session = f"stack-{uuid.uuid4().hex[:8]}"
    with ServiceBusClient.from_connection_string(env["STACK_SERVICEBUS_DC04"]) as client:
        with client.get_queue_sender("statements") as sender:
            sender.send_messages(ServiceBusMessage(b"ping", message_id=session, session_id=session))
        with client.get_queue_receiver("statements", session_id=session, max_wait_time=10) as receiver:
            received = receiver.receive_messages(max_message_count=1, max_wait_time=10)
            assert [b"".join(m.body) for m in received] == [b"ping"]
            receiver.complete_message(received[0])
    # DC06's namespace is another namespace: no pairing, nothing of DC04's arrives there.
    with (
        ServiceBusClient.from_connection_string(env["STACK_SERVICEBUS_DC06"]) as client,
        client.get_queue_receiver("statements", session_id=session, max_wait_time=2) as receiver,
    ):
        assert receiver.receive_messages(max_message_count=1, max_wait_time=2) == []


def test_azurite_restart_keeps_blobs(private_stack: Stack) -> None:
    private_stack.start_service("blob-dc04")
    connection = stack_env(private_stack.port_base)
    client = BlobServiceClient.from_connection_string(connection["STACK_BLOB_DC04"])
    client.create_container("kept")
    client.get_blob_client("kept", "a/b.txt").upload_blob(b"survives a restart")

    private_stack.stop_service("blob-dc04")
    assert private_stack.pid("blob-dc04") is None
    assert not private_stack.status()["blob-dc04"]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", private_stack.port("blob-dc04")), timeout=1).close()

    private_stack.start_service("blob-dc04")
    assert private_stack.status()["blob-dc04"]
    assert client.get_blob_client("kept", "a/b.txt").download_blob().readall() == b"survives a restart"


def test_a_service_that_cannot_start_is_named_with_its_log(private_stack: Stack) -> None:
    # Something that does not speak Redis holds the port: the stack does not adopt it, starts its own
    # redis-server, which exits, and the error names the service and quotes its log.
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", private_stack.port("redis-dc04")))
        blocker.listen()
        with pytest.raises(StackError) as caught:
            private_stack.start_service("redis-dc04")
    assert caught.value.service == "redis-dc04"
    assert "Address already in use" in caught.value.log_tail
    assert "redis-dc04" in str(caught.value)


def test_a_state_dir_serves_one_port_base(private_stack: Stack) -> None:
    private_stack.start_service("redis-dc04")
    other = Stack(ROOT, private_stack.port_base + 1000, state_dir=private_stack.local)
    with pytest.raises(StackError, match=f"port base {private_stack.port_base}"):
        other.start_service("redis-dc04")
    with pytest.raises(StackError, match=f"port base {private_stack.port_base}"):
        other.down()
    assert private_stack.pid("redis-dc04") is not None
    assert private_stack.status()["redis-dc04"]


def test_last_session_out_stops_only_what_sessions_started(private_stack: Stack) -> None:
    private_stack.start_service("redis-dc04")  # started by hand (make stack-up): sessions leave it alone
    first = Stack(ROOT, private_stack.port_base, state_dir=private_stack.local)
    second = Stack(ROOT, private_stack.port_base, state_dir=private_stack.local)

    assert set(first.join_session("first")) == EXPECTED_KEYS
    assert all(first.status().values())
    second.join_session("second")
    assert first.leave_session("first") == []
    assert all(second.status().values())

    stopped = second.leave_session("second")
    assert sorted(stopped) == sorted(set(private_stack.names) - {"redis-dc04"})
    assert private_stack.status() == {name: name == "redis-dc04" for name in private_stack.names}


def _load_patch_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "patch_cosmos", ROOT / "scripts" / "patch-cosmosdb-server.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cosmos_patch_is_idempotent_and_refuses_unknown_content(tmp_path: Path) -> None:
    patch = _load_patch_script()
    installed = ROOT / "node_modules" / patch.HANDLER
    handler = tmp_path / patch.HANDLER
    handler.parent.mkdir(parents=True)
    shutil.copy(installed, handler)
    handler.write_text(handler.read_text().replace(patch.GUARD, ""))  # as npm ci leaves it
    assert patch.MARKER not in handler.read_text()

    assert patch.patch(tmp_path) == "patched"
    patched = handler.read_text()
    assert patch.MARKER in patched
    assert patched.index("const data = collection.document") < patched.index("if (!data)")
    assert patch.patch(tmp_path) == "already"
    assert handler.read_text() == patched

    handler.write_text("module.exports = 1;\n")
    with pytest.raises(ValueError, match="unexpected content"):
        patch.patch(tmp_path)
