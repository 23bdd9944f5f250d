"""Redis adapter of :class:`shared.ports.ActiveRegionGate`: the single source of truth for who is active.

Keys (``prefix`` defaults to ``bridge:``; tests use one prefix each)::

    {prefix}active_dc          DC04 | DC06          } written together, only by the Lua scripts below
    {prefix}active_epoch       1, 2, ...            }
    {prefix}heartbeat:<region> ISO-8601 time, expires after the heartbeat TTL (SET ... PX)
    {prefix}seq:<epoch>        last ingest sequence reserved in that epoch (INCRBY)
    {prefix}doc:<key>          small JSON documents (status, last failover, replay checkpoint)

``flip`` is a compare-and-set in one Lua script (atomic on the server, https://redis.io/docs/latest/
develop/interact/programmability/eval-intro/): it changes ``active_dc`` and increments
``active_epoch`` only if both still hold the expected pair, else ``PreconditionFailed``. A flip whose
reply is lost (timeout) raises ``ServiceUnavailable``: the caller re-reads the gate to learn the outcome;
the client never retries it by itself, since a blind retry of a compare-and-set would report a false
conflict. Every Redis error becomes :class:`~shared.errors.ServiceUnavailable` ``("redis", ...)``.

Connection (:meth:`RedisActiveRegionGate.from_connection`, setting ``RedisConnection``):

* locally, a Redis URL in ``RedisConnection`` (``redis://127.0.0.1:17002/0``);
* in Azure, ``RedisConnection__host`` = ``<name>.<region>.redis.azure.net[:port]`` (Azure Managed Redis,
  TLS, port 10000 unless given), authenticated with Microsoft Entra ID (:mod:`.redis_auth`).

:meth:`RedisActiveRegionGate.replication_lag_s` tells whether this copy can judge heartbeats: locally
DC06's Redis may be a ``replicaof`` DC04's, and a stalled link lets keys expire on the stale copy.
On such a replica every write the server refuses (``READONLY``) is sent to its primary
(``INFO replication`` ``master_host:master_port``, same credentials and TLS), so both regions write one
data set; :meth:`RedisActiveRegionGate.promotion_gate` names the gate a promotion flips on.

With a sharded (OSS cluster policy) database, give a hash-tagged prefix such as ``{bridge}:`` so the
two gate keys share a slot, as a multi-key script requires.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import redis
from azure.core.exceptions import AzureError
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.adapters.redis_auth import AZURE_REDIS_PORT, EntraIdCredentialProvider
from shared.errors import PreconditionFailed, ServiceUnavailable, StaleGateCopy
from shared.model import GateState, GateView, lease_fields, lease_from_fields
from shared.ports import ActiveRegionGate, GateMirror
from shared.settings import Connection

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

log = logging.getLogger("bridge.gate")

DEFAULT_TIMEOUT_S = 1.0
#: How long a replica copy must have been seen fresh before a fence trusts it (``read_fenced``).
SETTLE_S = 1.0

_INITIALISE = """
local dc = redis.call('GET', KEYS[1])
local epoch = redis.call('GET', KEYS[2])
if not dc and not epoch then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[2], 1)
  return {ARGV[1], '1'}
end
return {dc or '', epoch or ''}
"""

_FLIP = """
local dc = redis.call('GET', KEYS[1])
local epoch = redis.call('GET', KEYS[2])
if dc ~= ARGV[1] or epoch ~= ARGV[2] then
  return {0, dc or '', epoch or ''}
end
redis.call('SET', KEYS[1], ARGV[3])
return {1, ARGV[3], tostring(redis.call('INCR', KEYS[2]))}
"""


@contextmanager
def _redis_errors(operation: str) -> Iterator[None]:
    try:
        yield
    except redis.RedisError as error:
        raise ServiceUnavailable("redis", f"{operation}: {type(error).__name__}: {error}") from error
    except OSError as error:
        raise ServiceUnavailable("redis", f"{operation}: {error}") from error
    except AzureError as error:  # the managed identity could not get a token
        raise ServiceUnavailable("redis", f"{operation}: authentication: {error}") from error


class RedisActiveRegionGate(ActiveRegionGate):
    """The gate in one Redis database; see the module documentation for keys and semantics."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "bridge:",
        credentials: EntraIdCredentialProvider | None = None,
    ) -> None:
        self._client = client
        self.prefix = prefix
        self._credentials = credentials
        self._generation = credentials.generation if credentials else 0
        self._initialise = client.register_script(_INITIALISE)
        self._flip = client.register_script(_FLIP)
        self._state_keys = [f"{prefix}active_dc", f"{prefix}active_epoch"]
        self._primary: tuple[tuple[str, int], redis.Redis] | None = None  # writes a replica refused
        #: Monotonic seconds; since when this client has seen its replica copy fresh without a break.
        self.clock: Callable[[], float] = time.monotonic
        self._fresh_since: float | None = None
        self._fresh_lock = threading.Lock()

    @classmethod
    def from_url(
        cls, url: str, prefix: str = "bridge:", timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> RedisActiveRegionGate:
        """A gate on the Redis at ``url`` (``redis://host:port/db``), no credentials beyond the URL's."""
        return cls(redis.Redis.from_url(url, **_client_options(timeout_s)), prefix)

    @classmethod
    def from_connection(
        cls,
        connection: Connection,
        prefix: str = "bridge:",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        credential: TokenCredential | None = None,
    ) -> RedisActiveRegionGate:
        """A URL in ``RedisConnection`` (local), or ``RedisConnection__host`` with Entra ID (Azure)."""
        if connection.connection_string:
            return cls.from_url(connection.connection_string, prefix, timeout_s)
        host, _, port = (connection.endpoint or "").rpartition(":")
        if not port.isdigit():
            host, port = connection.endpoint or "", str(AZURE_REDIS_PORT)
        credentials = EntraIdCredentialProvider(credential)
        client = redis.Redis(
            host=host, port=int(port), ssl=True, credential_provider=credentials, **_client_options(timeout_s)
        )
        return cls(client, prefix, credentials)

    # -- the port ------------------------------------------------------------------------------

    def read(self) -> GateState | None:
        with self._errors("read"):
            dc, epoch = self._client.mget(self._state_keys)
        return self._state(dc, epoch, "read")

    def read_fenced(self, max_lag_s: float) -> GateState | None:
        """The fence's read: ``INFO replication`` and the ``MGET`` pipelined, one round trip.

        On a primary (``role:master``) the answer is :meth:`read`'s. On a replica whose
        :func:`replication_lag` exceeds ``max_lag_s`` it raises ``StaleGateCopy`` (a
        ``ServiceUnavailable``), as an unreachable Redis would. ``INFO`` goes first: the copy only moves
        forward, so the pair read after it is at least as fresh as the lag it reported.

        The lag is the link's, not the data's: when a replica re-links (``PSYNC``), Redis reports lag 0
        from the handshake on, a few milliseconds *before* the backlog it missed arrives and is applied
        (drill ``replica-lag-flip``: a stale "you are active" passed in that window). So a replica copy
        is also refused until this client has seen it fresh, without a stale answer in between, for
        :data:`SETTLE_S` (also after this client is created).
        """
        with self._errors("read"):
            pipeline = self._client.pipeline(transaction=False)
            pipeline.info("replication")
            pipeline.mget(self._state_keys)
            info, (dc, epoch) = pipeline.execute()
        lag = replication_lag(info)
        if lag is None:
            return self._state(dc, epoch, "read")
        with self._fresh_lock:
            if lag > max_lag_s:
                self._fresh_since = None
                raise StaleGateCopy(lag, max_lag_s)
            now = self.clock()
            if self._fresh_since is None:
                self._fresh_since = now
            if now - self._fresh_since < SETTLE_S:
                raise StaleGateCopy(lag, max_lag_s, f"replica fresh for less than {SETTLE_S:g} s")
        return self._state(dc, epoch, "read")

    def initialise(self, active_dc: str) -> GateState:
        keys, args = self._state_keys, [active_dc]
        dc, epoch = self._write("initialise", lambda c: self._initialise(keys=keys, args=args, client=c))
        state = self._state(dc or None, epoch or None, "initialise")
        assert state is not None
        return state

    def flip(self, expected: GateState, new_active: str) -> GateState:
        args = [expected.active_dc, str(expected.epoch), new_active]
        won, dc, epoch = self._write(
            "flip", lambda client: self._flip(keys=self._state_keys, args=args, client=client)
        )
        if int(won) != 1:
            raise PreconditionFailed("gate", f"{expected.active_dc}@{expected.epoch} (now {dc}@{epoch})")
        return GateState(str(dc), int(epoch))

    def heartbeat(self, region: str, ttl_s: float, at: datetime) -> None:
        key, px = self._key("heartbeat", region), max(1, round(ttl_s * 1000))
        self._write("heartbeat", lambda client: client.set(key, at.isoformat(), px=px))

    def last_heartbeat(self, region: str) -> datetime | None:
        with self._errors("last_heartbeat"):
            raw = self._client.get(self._key("heartbeat", region))
        return None if raw is None else datetime.fromisoformat(str(raw))

    def next_sequence(self, epoch: int, count: int = 1) -> int:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        key = self._key("seq", str(epoch))
        last = int(cast(Any, self._write("next_sequence", lambda client: client.incrby(key, count))))
        return last - count + 1

    def put_json(self, key: str, value: Mapping[str, object]) -> None:
        document, name = json.dumps(value, default=str), self._key("doc", key)
        self._write("put_json", lambda client: client.set(name, document))

    def get_json(self, key: str) -> dict[str, object] | None:
        with self._errors("get_json"):
            raw = self._client.get(self._key("doc", key))
        return None if raw is None else cast(dict[str, object], json.loads(str(raw)))

    # -- replication (promotion of a local replica) ----------------------------------------------

    def role(self) -> str:
        """``master`` or ``replica`` (Redis ``ROLE``; ``slave`` is reported as ``replica``)."""
        with self._errors("role"):
            reply = self._client.role()
        role = str(reply[0])
        return "replica" if role == "slave" else role

    def make_writable(self) -> None:
        """Promote this Redis if it is a replica (``REPLICAOF NO ONE``).

        The local stand-in of Azure's geo-replication unlink / forced failover, which the Watchdog
        performs through the control plane instead (Azure refuses ``REPLICAOF``).
        """
        with self._errors("make_writable"):
            self._client.replicaof("NO", "ONE")

    def replication_lag_s(self) -> float | None:
        """``None`` on a primary; on a replica, seconds since it last heard from its primary.

        From ``INFO replication`` (https://redis.io/docs/latest/commands/info/): ``role:master`` →
        ``None``; ``master_link_status:up`` → ``master_last_io_seconds_ago`` (whole seconds; the
        primary sends a write or a ping at least every ``repl-ping-replica-period``); link down or a
        sync in progress → ``math.inf``. A silent partition keeps the link "up" until ``repl-timeout``
        (60 s by default) while the lag grows; only then does Redis declare it down.
        """
        with self._errors("replication_lag_s"):
            info = self._client.info("replication")
        return replication_lag(info)

    def primary_reachable(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
        """Whether this copy's primary answers ``PING`` on a new connection within ``timeout_s``.

        A primary answers for itself (``True``). A replica's primary is ``master_host:master_port``
        of ``INFO replication``, reached with this client's credentials and TLS setting; any error
        reaching it is ``False``. An error reading this copy's own ``INFO`` raises
        ``ServiceUnavailable``, like every other call.
        """
        with self._errors("primary_reachable"):
            info = self._client.info("replication")
        if info.get("role") == "master":
            return True
        primary = self._primary_client(info, timeout_s)
        try:
            return bool(primary.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            primary.close()

    def promotion_gate(self) -> RedisActiveRegionGate:
        """The gate a promotion compare-and-sets on (docs/failover.md, "Promotion on a replica").

        A primary: this gate. A replica whose primary answers: a gate on the primary
        (``master_host:master_port`` of ``INFO replication``, same prefix, credentials and TLS); the
        flip replicates back here and this copy stays a replica. A replica cut off from its primary:
        this gate, made writable (``REPLICAOF NO ONE``), which only the link-loss policy or an
        operator's forced failover reaches.
        """
        with self._errors("promotion_gate"):
            info = self._client.info("replication")
        if info.get("role") == "master":
            return self
        if self.primary_reachable():
            return RedisActiveRegionGate(self._primary_client(info), self.prefix, self._credentials)
        log.warning("redis.replica_promoted: the primary does not answer; making this replica writable")
        self.make_writable()
        return self

    def follow(self, host: str, port: int) -> None:
        """Become a replica of ``host:port`` again (``REPLICAOF``): local failback and tests only."""
        with self._errors("follow"):
            self._client.replicaof(host, port)

    def close(self) -> None:
        self._client.close()
        if self._primary is not None:
            self._primary[1].close()

    # -- internals ----------------------------------------------------------------------------------

    def _write(self, operation: str, call: Callable[[redis.Redis], Any]) -> Any:
        """Run a write here; one a read-only replica refuses (``READONLY``) goes to its primary.

        A refused write did nothing, so sending it on is safe, the compare-and-set included: every
        region's writes then land in the one data set both regions' copies replicate from.
        """
        with self._errors(operation):
            try:
                return call(self._client)
            except redis.ResponseError as error:  # ReadOnlyError, or a script's write refused
                if not isinstance(error, redis.ReadOnlyError) and "READONLY" not in str(error):
                    raise
                primary = self._primary_for_writes(self._client.info("replication"))
            return call(primary)

    def _primary_for_writes(self, info: Mapping[str, Any]) -> redis.Redis:
        address = (str(info.get("master_host")), int(info.get("master_port", 0)))
        if self._primary is None or self._primary[0] != address:
            if self._primary is not None:
                self._primary[1].close()
            self._primary = (address, self._primary_client(info))
        return self._primary[1]

    def _primary_client(self, info: Mapping[str, Any], timeout_s: float | None = None) -> redis.Redis:
        """A client on this replica's primary with this client's credentials and TLS setting."""
        pool = self._client.connection_pool
        options = pool.connection_kwargs
        if timeout_s is None:
            timeout_s = float(options.get("socket_timeout") or DEFAULT_TIMEOUT_S)
        return redis.Redis(
            host=str(info.get("master_host")),
            port=int(info.get("master_port", 0)),
            db=int(options.get("db") or 0),
            username=options.get("username"),
            password=options.get("password"),
            credential_provider=options.get("credential_provider"),
            ssl=issubclass(pool.connection_class, redis.SSLConnection),
            **_client_options(timeout_s),
        )

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        with _redis_errors(operation):
            if self._credentials is not None:
                self._credentials.token()  # renews ahead of expiry (cached otherwise)
                if self._credentials.generation != self._generation:
                    self._generation = self._credentials.generation
                    self._client.connection_pool.disconnect()  # reconnect with the new token
                    if self._primary is not None:
                        self._primary[1].connection_pool.disconnect()
            yield

    @staticmethod
    def _state(dc: object, epoch: object, operation: str) -> GateState | None:
        if dc is None and epoch is None:
            return None
        if dc is None or epoch is None:
            # Fails closed: the cached reader turns this into RegionNotActive until an operator fixes it.
            raise ServiceUnavailable("redis", f"{operation}: gate keys inconsistent ({dc!r}, {epoch!r})")
        return GateState(str(dc), int(str(epoch)))


def replication_lag(info: Mapping[str, Any]) -> float | None:
    """:meth:`RedisActiveRegionGate.replication_lag_s` from a parsed ``INFO replication`` section."""
    if info.get("role") == "master":
        return None
    if info.get("master_link_status") != "up" or info.get("master_sync_in_progress"):
        return math.inf
    last_io = int(info.get("master_last_io_seconds_ago", -1))
    return float(last_io) if last_io >= 0 else math.inf


def _client_options(timeout_s: float) -> dict[str, Any]:
    """Short timeouts, no client-side retries (a retried compare-and-set could report a false conflict)."""
    return {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": True,
    }


class RedisGateMirror(GateMirror):
    """:class:`~shared.ports.GateMirror` of ``region``: one JSON string at ``{prefix}gate:mirror:<region>``.

    One key per region, written only by that region's Watchdog (plain ``SET``): with Azure Managed
    Redis active geo-replication the two instances merge a string last-writer-wins, so a shared key
    could carry the other region's view; a key per region never can. Every Redis error becomes
    ``ServiceUnavailable`` and the fences fail closed.
    """

    def __init__(
        self,
        client: redis.Redis,
        region: str,
        prefix: str = "bridge:",
        credentials: EntraIdCredentialProvider | None = None,
    ) -> None:
        self._client = client
        self.region = region
        self.key = f"{prefix}gate:mirror:{region}"
        self._credentials = credentials
        self._generation = credentials.generation if credentials else 0

    @classmethod
    def from_connection(
        cls,
        connection: Connection,
        region: str,
        prefix: str = "bridge:",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        credential: TokenCredential | None = None,
    ) -> RedisGateMirror:
        """A URL in ``RedisConnection`` (local), or ``RedisConnection__host`` with Entra ID (Azure)."""
        if connection.connection_string:
            client = redis.Redis.from_url(connection.connection_string, **_client_options(timeout_s))
            return cls(client, region, prefix)
        host, _, port = (connection.endpoint or "").rpartition(":")
        if not port.isdigit():
            host, port = connection.endpoint or "", str(AZURE_REDIS_PORT)
        credentials = EntraIdCredentialProvider(credential)
        client = redis.Redis(
            host=host, port=int(port), ssl=True, credential_provider=credentials, **_client_options(timeout_s)
        )
        return cls(client, region, prefix, credentials)

    def publish(self, view: GateView) -> None:
        body = json.dumps({"lease": lease_fields(view.lease), "activatedEpoch": view.activated_epoch})
        with self._errors("publish"):
            self._client.set(self.key, body)

    def read(self) -> GateView | None:
        with self._errors("read"):
            raw = self._client.get(self.key)
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
            activated = doc.get("activatedEpoch")
            return GateView(lease_from_fields(doc["lease"]), None if activated is None else int(activated))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            # Fails closed: the fence refuses until the Watchdog publishes a readable view again.
            raise ServiceUnavailable("redis", f"gate mirror {self.key} unreadable: {error}") from error

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        with _redis_errors(f"gate mirror {operation}"):
            if self._credentials is not None:
                self._credentials.token()  # renews ahead of expiry (cached otherwise)
                if self._credentials.generation != self._generation:
                    self._generation = self._credentials.generation
                    self._client.connection_pool.disconnect()  # reconnect with the new token
            yield
