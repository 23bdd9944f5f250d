"""One contract for ActiveRegionGate, run against the in-memory twin and against real Redis.

As in pyeventsourcing's ``tests/persistence.py``: :class:`GateContract` holds every test and an
abstract ``store`` fixture; each subclass provides the store. The Redis store goes through
``dev.proxy.TcpProxy`` so "the server going away" is a real broken connection, and every test uses
its own key prefix on the stack's DC04 Redis.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from azure.core.credentials import AccessToken

from dev.proxy import TcpProxy
from dev.stack import Stack, free_port_base
from shared.adapters.redis_auth import REDIS_SCOPE, EntraIdCredentialProvider, object_id
from shared.adapters.redis_gate import RedisActiveRegionGate
from shared.errors import PreconditionFailed, ServiceUnavailable
from shared.model import GateState
from shared.ports import ActiveRegionGate
from tests.twins.gate import InMemoryGate

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 11, 26, 4, 35, 12, 345678, tzinfo=UTC)


class GateStore(ABC):
    """One gate store; ``client()`` opens another client on it; ``cut()``/``restore()`` the road to it."""

    @abstractmethod
    def client(self) -> ActiveRegionGate: ...

    @abstractmethod
    def cut(self) -> None: ...

    @abstractmethod
    def restore(self) -> None: ...


@contextmanager
def _redis_pair(
    tmp_path: Path, dc06_timeout_s: float | None = None
) -> Iterator[tuple[Stack, RedisActiveRegionGate, RedisActiveRegionGate]]:
    """A private DC04 Redis and DC06 Redis made a replica of it (``REPLICAOF``), each with a gate on
    it; stopped afterwards."""
    pair = Stack(ROOT, free_port_base(), state_dir=tmp_path / "state")
    try:
        pair.start_service("redis-dc04")
        pair.start_service("redis-dc06")
        dc04 = RedisActiveRegionGate.from_url(f"redis://127.0.0.1:{pair.port('redis-dc04')}/0")
        dc06_url = f"redis://127.0.0.1:{pair.port('redis-dc06')}/0"
        dc06 = (
            RedisActiveRegionGate.from_url(dc06_url)
            if dc06_timeout_s is None
            else RedisActiveRegionGate.from_url(dc06_url, timeout_s=dc06_timeout_s)
        )
        dc06.follow("127.0.0.1", pair.port("redis-dc04"))
        assert eventually(lambda: _role(dc06) == "replica" and dc06.replication_lag_s() is not None)
        yield pair, dc04, dc06
    finally:
        pair.down()


def eventually(condition: Callable[[], bool], within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class GateContract:
    @pytest.fixture
    def store(self) -> Iterator[GateStore]:
        raise NotImplementedError("subclasses provide the store")

    def test_read_before_initialise_is_none(self, store: GateStore) -> None:
        assert store.client().read() is None

    def test_initialise_once(self, store: GateStore) -> None:
        gate = store.client()
        assert gate.initialise("DC04") == GateState("DC04", 1)
        assert store.client().initialise("DC06") == GateState("DC04", 1)
        assert gate.read() == GateState("DC04", 1)

    def test_flip_is_a_compare_and_set_that_increments_the_epoch(self, store: GateStore) -> None:
        gate = store.client()
        first = gate.initialise("DC04")
        assert gate.flip(first, "DC06") == GateState("DC06", 2)
        assert store.client().read() == GateState("DC06", 2)
        assert gate.flip(GateState("DC06", 2), "DC04") == GateState("DC04", 3)

    def test_stale_flip_raises_precondition_failed_and_changes_nothing(self, store: GateStore) -> None:
        gate = store.client()
        first = gate.initialise("DC04")
        gate.flip(first, "DC06")
        with pytest.raises(PreconditionFailed):
            gate.flip(first, "DC06")  # stale epoch
        with pytest.raises(PreconditionFailed):
            gate.flip(GateState("DC04", 2), "DC06")  # right epoch, wrong region
        assert gate.read() == GateState("DC06", 2)

    def test_flip_of_an_uninitialised_gate_fails(self, store: GateStore) -> None:
        with pytest.raises(PreconditionFailed):
            store.client().flip(GateState("DC04", 1), "DC06")
        assert store.client().read() is None

    def test_two_clients_racing_a_flip_exactly_one_wins(self, store: GateStore) -> None:
        expected = store.client().initialise("DC04")
        clients = [store.client() for _ in range(8)]
        barrier = threading.Barrier(len(clients))
        outcomes: list[object] = []

        def race(gate: ActiveRegionGate) -> None:
            barrier.wait()
            try:
                outcomes.append(gate.flip(expected, "DC06"))
            except PreconditionFailed as lost:
                outcomes.append(lost)

        threads = [threading.Thread(target=race, args=(gate,)) for gate in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        winners = [o for o in outcomes if isinstance(o, GateState)]
        assert winners == [GateState("DC06", 2)]
        assert sum(isinstance(o, PreconditionFailed) for o in outcomes) == len(clients) - 1
        assert store.client().read() == GateState("DC06", 2)

    def test_heartbeat_is_read_back_until_it_expires(self, store: GateStore) -> None:
        gate = store.client()
        assert gate.last_heartbeat("DC04") is None
        gate.heartbeat("DC04", 60, AT)
        gate.heartbeat("DC06", 0.2, AT)
        assert store.client().last_heartbeat("DC04") == AT
        assert eventually(lambda: gate.last_heartbeat("DC06") is None)
        assert gate.last_heartbeat("DC04") == AT

    def test_next_sequence_is_monotonic_across_clients_and_per_epoch(self, store: GateStore) -> None:
        clients = [store.client() for _ in range(4)]
        reserved: list[tuple[int, int]] = []
        lock = threading.Lock()

        def take(gate: ActiveRegionGate) -> None:
            for count in (1, 3, 1, 5):
                first = gate.next_sequence(7, count)
                with lock:
                    reserved.append((first, count))

        threads = [threading.Thread(target=take, args=(gate,)) for gate in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        numbers = sorted(n for first, count in reserved for n in range(first, first + count))
        assert numbers == list(range(1, 4 * 10 + 1))  # no gap, no overlap
        assert clients[0].next_sequence(7) == 41
        assert clients[1].next_sequence(8) == 1

    def test_next_sequence_refuses_an_empty_reservation(self, store: GateStore) -> None:
        gate = store.client()
        with pytest.raises(ValueError):
            gate.next_sequence(1, 0)
        assert gate.next_sequence(1) == 1

    def test_json_documents_round_trip(self, store: GateStore) -> None:
        gate = store.client()
        assert gate.get_json("status") is None
        gate.put_json("status", {"region": "DC04", "epoch": 3, "ok": True, "at": AT, "items": [1, "two"]})
        assert store.client().get_json("status") == {
            "region": "DC04",
            "epoch": 3,
            "ok": True,
            "at": str(AT),
            "items": [1, "two"],
        }
        gate.put_json("status", {"region": "DC06"})
        assert gate.get_json("status") == {"region": "DC06"}

    def test_a_primary_copy_is_authoritative(self, store: GateStore) -> None:
        assert store.client().replication_lag_s() is None

    def test_server_going_away_raises_service_unavailable(self, store: GateStore) -> None:
        gate = store.client()
        state = gate.initialise("DC04")
        store.cut()
        calls: list[Callable[[], object]] = [
            gate.read,
            lambda: gate.initialise("DC04"),
            lambda: gate.flip(state, "DC06"),
            lambda: gate.heartbeat("DC04", 10, AT),
            lambda: gate.last_heartbeat("DC04"),
            lambda: gate.next_sequence(1),
            lambda: gate.put_json("k", {"a": 1}),
            lambda: gate.get_json("k"),
            gate.replication_lag_s,
        ]
        for call in calls:
            with pytest.raises(ServiceUnavailable) as caught:
                call()
            assert caught.value.service == "redis"
        store.restore()
        assert eventually(lambda: _reads(gate) == state)


def _reads(gate: ActiveRegionGate) -> GateState | None:
    try:
        return gate.read()
    except ServiceUnavailable:
        return None


def _role(gate: RedisActiveRegionGate) -> str | None:
    try:
        return gate.role()
    except ServiceUnavailable:
        return None


class _MemoryStore(GateStore):
    def __init__(self) -> None:
        self.gate = InMemoryGate()

    def client(self) -> ActiveRegionGate:
        return self.gate

    def cut(self) -> None:
        self.gate.available = False

    def restore(self) -> None:
        self.gate.available = True


class TestInMemoryGate(GateContract):
    @pytest.fixture
    def store(self) -> Iterator[GateStore]:
        yield _MemoryStore()

    def test_replication_lag_is_what_the_test_sets(self) -> None:
        gate = InMemoryGate()
        for lag in (0.0, 20.0, math.inf, None):
            gate.replication_lag = lag
            assert gate.replication_lag_s() == lag


class _RedisStore(GateStore):
    def __init__(self, port: int) -> None:
        self.prefix = f"test:{uuid.uuid4().hex}:"
        self.proxy = TcpProxy(0, ("127.0.0.1", port))
        self.proxy.start()
        self.clients: list[RedisActiveRegionGate] = []

    def client(self) -> ActiveRegionGate:
        gate = RedisActiveRegionGate.from_url(f"redis://127.0.0.1:{self.proxy.port}/0", self.prefix, 0.5)
        self.clients.append(gate)
        return gate

    def cut(self) -> None:
        self.proxy.cut()

    def restore(self) -> None:
        self.proxy.restore()

    def close(self, port: int) -> None:
        for gate in self.clients:
            gate.close()
        self.proxy.stop()
        direct = redis.Redis(port=port)
        keys = list(direct.scan_iter(match=f"{self.prefix}*"))
        if keys:
            direct.delete(*keys)
        direct.close()


@pytest.mark.integration
class TestRedisGate(GateContract):
    @pytest.fixture
    def store(self, stack: dict[str, str]) -> Iterator[GateStore]:
        port = int(stack["STACK_REDIS_PORT_DC04"])
        store = _RedisStore(port)
        yield store
        store.close(port)

    def test_server_holding_the_connection_raises_service_unavailable(self, store: GateStore) -> None:
        assert isinstance(store, _RedisStore)
        gate = store.client()
        gate.initialise("DC04")
        store.proxy.cut("hold")  # a partition: no answer at all, only the client's timeout
        with pytest.raises(ServiceUnavailable, match="Timeout"):
            gate.read()
        store.restore()
        assert eventually(lambda: _reads(gate) == GateState("DC04", 1))


@pytest.mark.integration
class TestRedisReplica:
    def test_write_on_dc04_is_visible_on_dc06_after_replication(self, tmp_path: Path) -> None:
        with _redis_pair(tmp_path) as (pair, dc04, dc06):
            prefix = ""
            stack = {
                "STACK_REDIS_DC04": f"redis://127.0.0.1:{pair.port('redis-dc04')}/0",
                "STACK_REDIS_DC06": f"redis://127.0.0.1:{pair.port('redis-dc06')}/0",
            }
            assert (dc04.role(), dc06.role()) == ("master", "replica")
            state = dc04.flip(dc04.initialise("DC04"), "DC06")
            assert eventually(lambda: dc06.read() == state)
            lag = dc06.replication_lag_s()
            assert lag is not None and 0 <= lag <= 1  # linked: it has just heard from its primary
            assert dc04.replication_lag_s() is None
            assert dc06.primary_reachable() and dc04.primary_reachable()
            raw_replica = redis.Redis.from_url(stack["STACK_REDIS_DC06"])
            with pytest.raises(redis.ReadOnlyError):
                raw_replica.set(f"{prefix}active_dc", "DC04")  # the replica itself refuses writes ...
            raw_replica.close()
            back = dc06.flip(state, "DC04")  # ... so the adapter sends them to its primary
            assert back == GateState("DC04", 3) and dc04.read() == back and dc06.role() == "replica"
            redis.Redis.from_url(stack["STACK_REDIS_DC04"]).delete(
                f"{prefix}active_dc", f"{prefix}active_epoch"
            )

    def test_make_writable_promotes_a_replica(self, tmp_path: Path) -> None:
        # A private primary/replica pair: promoting the shared stack's DC06 would disturb other tests.
        with _redis_pair(tmp_path) as (pair, dc04, dc06):
            state = dc04.initialise("DC04")
            assert eventually(lambda: dc06.read() == state)

            dc06.make_writable()
            assert dc06.role() == "master"
            promoted = dc06.flip(state, "DC06")
            assert promoted == GateState("DC06", 2)
            assert dc04.read() == state  # the old primary no longer hears from its replica

            dc06.follow("127.0.0.1", pair.port("redis-dc04"))
            assert eventually(lambda: _role(dc06) == "replica" and _reads(dc06) == state)


@pytest.mark.integration
class TestRedisPromotionOnAReplica:
    """docs/failover.md, "Promotion on a replica": flip at the primary while it answers, else promote."""

    def test_a_promotion_via_the_replica_lands_on_the_primary_and_replicates(self, tmp_path: Path) -> None:
        with _redis_pair(tmp_path) as (_pair, dc04, dc06):
            state = dc04.initialise("DC04")
            assert eventually(lambda: _reads(dc06) == state)

            target = dc06.promotion_gate()
            assert target is not dc06 and target.role() == "master"
            promoted = target.flip(state, "DC06")
            assert promoted == GateState("DC06", 2)
            assert dc04.read() == promoted  # the primary holds the flip ...
            assert eventually(lambda: _reads(dc06) == promoted)  # ... and replicated it
            assert dc06.role() == "replica"  # the replica was not made writable
            with pytest.raises(PreconditionFailed):
                dc06.promotion_gate().flip(state, "DC06")  # still one compare-and-set

            # The replica's other writes reach the primary too: the returning DC04 sees DC06 alive.
            dc06.heartbeat("DC06", 30, AT)
            dc06.put_json("activated:DC06", {"epoch": 2})
            assert dc04.last_heartbeat("DC06") == AT
            assert dc04.get_json("activated:DC06") == {"epoch": 2}
            assert dc06.next_sequence(2, 5) == 1 and dc04.next_sequence(2) == 6
            target.close()

    def test_a_replica_cut_off_from_its_primary_is_made_writable(self, tmp_path: Path) -> None:
        with _redis_pair(tmp_path, dc06_timeout_s=0.3) as (pair, dc04, dc06):
            state = dc04.initialise("DC04")
            assert eventually(lambda: _reads(dc06) == state)
            pair.stop_service("redis-dc04")
            assert eventually(lambda: _lag(dc06) == math.inf, within_s=10)
            with pytest.raises(ServiceUnavailable):
                dc06.heartbeat("DC06", 30, AT)  # refused here, and the primary does not answer

            assert dc06.promotion_gate() is dc06
            assert dc06.role() == "master"
            assert dc06.flip(state, "DC06") == GateState("DC06", 2)


def _jwt(claims: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none'})}.{part(claims)}.signature"


class FakeCredential:
    """Stands in for DefaultAzureCredential: issues numbered tokens for one object id."""

    def __init__(self, oid: str, lifetime_s: float, clock: Callable[[], float]) -> None:
        self.oid = oid
        self.lifetime_s = lifetime_s
        self.clock = clock
        self.issued: list[str] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        assert scopes == (REDIS_SCOPE,)
        token = _jwt({"oid": self.oid, "n": len(self.issued)})
        self.issued.append(token)
        return AccessToken(token, int(self.clock() + self.lifetime_s))


@pytest.mark.integration
class TestRedisEntraIdAuthentication:
    """The Azure path's credentials (object id + token as AUTH user/password) against a Redis ACL user."""

    def test_object_id_is_read_from_the_token(self) -> None:
        assert object_id(_jwt({"oid": "0b1d-42", "aud": "https://redis.azure.com"})) == "0b1d-42"
        with pytest.raises(ServiceUnavailable, match="oid"):
            object_id(_jwt({"aud": "x"}))
        with pytest.raises(ServiceUnavailable):
            object_id("not-a-jwt")

    def test_token_authenticates_and_is_renewed_before_expiry(self, stack: dict[str, str]) -> None:
        now = [1_000_000.0]
        oid = f"oid-{uuid.uuid4().hex[:12]}"
        prefix = f"test:{uuid.uuid4().hex}:"
        credential = FakeCredential(oid, lifetime_s=3600, clock=lambda: now[0])
        provider = EntraIdCredentialProvider(credential, refresh_margin_s=300, clock=lambda: now[0])
        admin = redis.Redis.from_url(stack["STACK_REDIS_DC04"])
        token = [_jwt({"oid": oid, "n": n}) for n in range(2)]
        admin.acl_setuser(
            oid, enabled=True, passwords=[f"+{token[0]}"], keys=[f"{prefix}*"], commands=["+@all"]
        )
        port = int(stack["STACK_REDIS_PORT_DC04"])
        client = redis.Redis(port=port, credential_provider=provider, decode_responses=True)
        gate = RedisActiveRegionGate(client, prefix, provider)
        try:
            assert gate.initialise("DC04") == GateState("DC04", 1)
            assert client.acl_whoami() == oid
            first_connection = client.client_id()

            # The server now only accepts the next token; the provider renews 300 s before expiry.
            admin.acl_setuser(oid, enabled=True, reset_passwords=True, passwords=[f"+{token[1]}"])
            now[0] += 3600 - 299
            assert gate.read() == GateState("DC04", 1)
            assert len(credential.issued) == 2
            assert client.client_id() != first_connection

            credential.oid = "someone-else"  # a token the server does not know: AUTH fails
            now[0] += 3600
            with pytest.raises(ServiceUnavailable, match="redis"):
                gate.read()
        finally:
            client.close()
            admin.acl_deluser(oid)
            admin.delete(f"{prefix}active_dc", f"{prefix}active_epoch")
            admin.close()


@pytest.mark.integration
class TestRedisReplicaLag:
    """The drill's recipe for a replica-lag window: route DC06's replication link through a TcpProxy."""

    def test_held_replication_link_leaves_dc06_stale_until_restored(self, tmp_path: Path) -> None:
        with (
            _redis_pair(tmp_path) as (pair, dc04, dc06),
            TcpProxy(0, ("127.0.0.1", pair.port("redis-dc04"))) as link,
        ):
            dc06.follow("127.0.0.1", link.port)
            first = dc04.initialise("DC04")
            assert eventually(lambda: _reads(dc06) == first)

            link.cut("hold")
            second = dc04.flip(first, "DC06")
            time.sleep(0.5)  # replication would take well under a millisecond on loopback
            assert dc06.read() == first  # DC06 still believes DC04 is active: the lag window

            link.restore()
            assert eventually(lambda: _reads(dc06) == second, within_s=20)

    def test_replication_lag_grows_while_held_and_is_infinite_once_the_primary_is_gone(
        self, tmp_path: Path
    ) -> None:
        with (
            _redis_pair(tmp_path) as (pair, dc04, dc06),
            TcpProxy(0, ("127.0.0.1", pair.port("redis-dc04"))) as link,
        ):
            dc06.follow("127.0.0.1", link.port)
            state = dc04.initialise("DC04")
            assert eventually(lambda: _reads(dc06) == state and _lag(dc06) == 0.0)

            link.cut("hold")  # a silent stall: Redis keeps the link "up" until repl-timeout
            assert eventually(lambda: (_lag(dc06) or 0.0) >= 3.0, within_s=10)
            lag = _lag(dc06)
            assert lag is not None and not math.isinf(lag)
            assert not dc06.primary_reachable(timeout_s=0.3)  # the road to it is held too

            link.restore()
            assert eventually(lambda: (_lag(dc06) or math.inf) <= 1.0, within_s=20)
            assert dc06.primary_reachable()

            pair.stop_service("redis-dc04")  # the primary is gone: the link goes down at once
            assert eventually(lambda: _lag(dc06) == math.inf, within_s=10)
            assert not dc06.primary_reachable(timeout_s=0.3)
            assert dc06.read() == state  # the copy still answers, from what it last heard

            dc06.make_writable()
            assert dc06.replication_lag_s() is None  # promoted: a primary again


def _lag(gate: RedisActiveRegionGate) -> float | None:
    try:
        return gate.replication_lag_s()
    except ServiceUnavailable:
        return math.inf
