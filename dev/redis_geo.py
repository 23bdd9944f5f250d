"""A local model of Azure Managed Redis *active geo-replication* between two independent redis-servers.

Deployed, each region has its own Azure Managed Redis instance, linked by active geo-replication:
"All instances act as the local, primary caches" and "Data sync among replicas follows eventual
consistency. The service does not provide SLA on sync time"
(https://learn.microsoft.com/azure/redis/how-to-active-geo-replication). Conflicts are merged as CRDTs
(Redis Active-Active, https://redis.io/docs/latest/operate/rs/databases/active-active/develop/data-types/strings/):
a string written in two instances converges to the *last writer by wall clock*; a counter changed by
``INCRBY`` in two instances converges to the *sum* of the increments. A Lua compare-and-set is atomic
only in the instance that ran it.

:class:`GeoReplicator` gives two local redis-servers (no ``replicaof``: both writable) the same
semantics, which is all this project's code can observe:

* It polls every key of each instance (``SCAN``, ``DUMP``, ``PTTL``) every ``interval_s`` and notes each
  change with the wall-clock time it saw it (a local write's timestamp; each instance knows its own
  writes even while the link is down).
* Propagation: a key changed on one side only is copied to the other (``RESTORE ... REPLACE`` with its
  TTL; a deleted or expired key is deleted). A key changed on both sides since the last sync: a string
  whose old and new values are integers on both sides is a *counter* (the other side's increment is
  added: ``INCRBY``); anything else goes to the later change (last writer wins).
* :meth:`stall` stops propagation (observation goes on), :meth:`resume` syncs what accumulated: a
  replication stall while both regions are up. An instance that stops answering stalls it too; one that
  comes back (e.g. empty after a restart) is re-seeded from the other, as a rejoining instance is
  "automatically reloaded" with the group's data.

Local simplifications (said, not hidden): the merge is per key (no per-field hash CRDT), timestamps are
those of the poll that saw a change (resolution ``interval_s``), and a key changed on both sides by
non-integer writes keeps only the later one, as Active-Active strings do.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field

import redis

log = logging.getLogger("bridge.dev.redis_geo")

DEFAULT_INTERVAL_S = 0.1


@dataclass
class _Seen:
    """One instance's key as last observed: its DUMP (``None`` = absent), integer value, and when."""

    dump: bytes | None
    number: int | None
    at: float


@dataclass
class _Side:
    name: str
    client: redis.Redis
    synced: dict[bytes, _Seen] = field(default_factory=dict)  # as of the last propagation
    now: dict[bytes, _Seen] = field(default_factory=dict)  # as observed now
    up: bool = False
    rejoined: bool = False  # (re)connected since the last propagation: merge it whole


class GeoReplicator:
    """Bidirectional last-writer-wins / counter-sum sync between two local Redis instances."""

    def __init__(
        self, ports: dict[str, int], interval_s: float = DEFAULT_INTERVAL_S, host: str = "127.0.0.1"
    ) -> None:
        """``ports``: region name -> redis-server port (exactly two)."""
        if len(ports) != 2:
            raise ValueError("active geo-replication is modelled between exactly two instances")
        self.interval_s = interval_s
        self.sides = [
            _Side(name, redis.Redis(host=host, port=port, socket_timeout=1, socket_connect_timeout=1))
            for name, port in ports.items()
        ]
        self.stalled = threading.Event()
        self.syncs = 0
        self.copied = 0
        #: Commands this model sent (so a drill can tell the app's Redis operations from its own).
        self.commands = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- control --------------------------------------------------------------------------------

    def start(self) -> GeoReplicator:
        self._thread = threading.Thread(target=self._loop, name="redis-geo", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for side in self.sides:
            with contextlib.suppress(Exception):
                side.client.close()

    def stall(self) -> None:
        """Stop propagating (the geo-replication link stalls); both instances stay writable."""
        self.stalled.set()

    def resume(self) -> None:
        """Propagate again; changes made meanwhile on both sides are merged as described above."""
        self.stalled.clear()

    def sync_once(self) -> None:
        """One observation and (unless stalled) one propagation round (tests call it directly)."""
        with self._lock:
            for side in self.sides:
                self._observe(side)
            if not self.stalled.is_set() and all(side.up for side in self.sides):
                self._propagate()

    # -- internals ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_once()
            except Exception:  # a dev tool: keep modelling, say why
                log.exception("redis geo-replication round failed")
            self._stop.wait(self.interval_s)

    def _observe(self, side: _Side) -> None:
        try:
            keys = list(side.client.scan_iter(count=500))
            self.commands += 1 + len(keys) // 500 + 2 * len(keys) + 1  # SCAN, DUMP, TYPE, MGET
            pipe = side.client.pipeline(transaction=False)
            for key in keys:
                pipe.dump(key)
            dumps = pipe.execute()
            numbers = self._numbers(side, keys, dumps)
        except redis.RedisError:
            side.up = False
            return
        if not side.up:  # (re)joined: merged whole with the other side on the next propagation
            side.up = side.rejoined = True
            side.synced = {}
            side.now = {}
        stamp = time.time()
        observed: dict[bytes, _Seen] = {}
        for key, dump, number in zip(keys, dumps, numbers, strict=True):
            if dump is None:
                continue
            before = side.now.get(key)
            same = before is not None and before.dump == dump
            observed[key] = before if same and before is not None else _Seen(dump, number, stamp)
        for key, before in side.now.items():
            if key not in observed and before.dump is not None:
                observed[key] = _Seen(None, None, stamp)  # deleted or expired here
            elif key not in observed:
                observed[key] = before
        side.now = observed

    @staticmethod
    def _numbers(side: _Side, keys: list[bytes], dumps: list[bytes | None]) -> list[int | None]:
        pipe = side.client.pipeline(transaction=False)
        for key in keys:
            pipe.type(key)
        kinds = pipe.execute()
        values: list[int | None] = []
        strings = [key for key, kind in zip(keys, kinds, strict=True) if kind == b"string"]
        fetched: dict[bytes, object] = (
            dict(zip(strings, side.client.mget(strings), strict=True)) if strings else {}
        )
        for key, dump in zip(keys, dumps, strict=True):
            raw = fetched.get(key)
            number = isinstance(raw, bytes) and raw.lstrip(b"-").isdigit()
            values.append(int(raw) if dump is not None and number and isinstance(raw, bytes) else None)
        return values

    def _propagate(self) -> None:
        a, b = self.sides
        for key in set(a.now) | set(b.now):
            old_a, old_b = a.synced.get(key), b.synced.get(key)
            new_a, new_b = a.now.get(key), b.now.get(key)
            if a.rejoined or b.rejoined:  # a whole merge: present beats absent, else the later wins
                self._merge(key, a, b)
                continue
            changed_a, changed_b = _changed(old_a, new_a), _changed(old_b, new_b)
            if changed_a and changed_b and _is_counter(old_a, new_a) and _is_counter(old_b, new_b):
                self._add(a, key, _delta(old_b, new_b))
                self._add(b, key, _delta(old_a, new_a))
            elif changed_a and (not changed_b or _later(new_a, new_b)):
                self._copy(key, a, b)
            elif changed_b:
                self._copy(key, b, a)
        self.syncs += 1
        for side in self.sides:
            self._observe(side)
            side.synced = dict(side.now)
            side.rejoined = False

    def _merge(self, key: bytes, a: _Side, b: _Side) -> None:
        new_a, new_b = a.now.get(key), b.now.get(key)
        has_a = new_a is not None and new_a.dump is not None
        has_b = new_b is not None and new_b.dump is not None
        if has_a and (not has_b or (_changed(new_a, new_b) and _later(new_a, new_b))):
            self._copy(key, a, b)
        elif has_b and (not has_a or _changed(new_a, new_b)):
            self._copy(key, b, a)

    def _copy(self, key: bytes, source: _Side, target: _Side) -> None:
        seen = source.now.get(key)
        self.commands += 2
        if seen is None or seen.dump is None:
            target.client.delete(key)
        else:
            ttl = source.client.pttl(key)
            if ttl == -2:  # expired since it was observed
                target.client.delete(key)
                return
            target.client.restore(key, max(ttl, 0), seen.dump, replace=True)
        self.copied += 1

    def _add(self, side: _Side, key: bytes, delta: int) -> None:
        if delta:
            self.commands += 1
            side.client.incrby(key, delta)
            self.copied += 1


def _changed(old: _Seen | None, new: _Seen | None) -> bool:
    return (old.dump if old else None) != (new.dump if new else None)


def _is_counter(old: _Seen | None, new: _Seen | None) -> bool:
    return new is not None and new.number is not None and (old is None or old.number is not None)


def _delta(old: _Seen | None, new: _Seen | None) -> int:
    return (new.number if new and new.number is not None else 0) - (old.number if old and old.number else 0)


def _later(a: _Seen | None, b: _Seen | None) -> bool:
    return (a.at if a else 0.0) >= (b.at if b else 0.0)
