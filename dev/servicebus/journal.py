"""Optional persistence (``--data-dir``): an append-only journal of every queue change, one JSON line each.

Azure Service Bus Standard keeps messages across restarts; the in-memory endpoint would not, so the
failover drill runs it with a data directory. On start the journal is replayed and rewritten as a
compact snapshot (live messages, their delivery counts and states, session states, the duplicate
detection history and the last sequence numbers), and rewritten so again whenever it has grown enough;
every change is appended and flushed before the client is answered, so a killed process (SIGKILL
included) loses nothing the OS has received (only a machine crash without ``--fsync`` can).
Lock state is not persisted: after a restart every message is unlocked, as after a lock expiry, but
without a delivery-count increment.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import IO, Any

from dev.servicebus.broker import Queue, b64
from dev.servicebus.endpoint import Endpoint
from dev.servicebus.message import StoredMessage

FILE_NAME = "servicebus-journal.jsonl"


class FileJournal:
    """The journal file. It is compacted on start and whenever the appended part has grown past
    ``compact_after_bytes`` (and past twice the last snapshot, so a large backlog is not rewritten often).
    """

    def __init__(
        self, data_dir: str | Path, fsync: bool = False, compact_after_bytes: int = 64 << 20
    ) -> None:
        self.path = Path(data_dir) / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.compact_after_bytes = compact_after_bytes
        self.compactions = 0
        self._file: IO[str] | None = None
        self._endpoint: Endpoint | None = None
        self._appended = 0
        self._threshold = compact_after_bytes

    def record(self, op: dict[str, Any]) -> None:
        if self._file is None:
            return  # replay in progress: the snapshot written afterwards covers it
        line = json.dumps(op, separators=(",", ":")) + "\n"
        self._file.write(line)
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())
        self._appended += len(line)
        if self._appended > self._threshold:
            self._compact()

    def open(self, endpoint: Endpoint) -> int:
        """Replay the journal into ``endpoint``'s queues, compact it, start appending; return ops replayed."""
        replayed = 0
        if self.path.exists():
            with self.path.open(encoding="utf-8") as lines:
                for line in lines:
                    if line.strip():
                        try:
                            _apply(endpoint, json.loads(line))
                        except json.JSONDecodeError:
                            break  # a torn last line from a crash mid-write: everything before it counts
                        replayed += 1
        self._endpoint = endpoint
        self._compact()
        return replayed

    def _compact(self) -> None:
        """Write the live state as a snapshot next to the journal, fsync it, and swap it in atomically."""
        assert self._endpoint is not None
        if self._file is not None:
            self._file.close()
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            for op in _snapshot(self._endpoint):
                out.write(json.dumps(op, separators=(",", ":")) + "\n")
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
        tmp.replace(self.path)
        self._file = self.path.open("a", encoding="utf-8")
        self._appended = 0
        self._threshold = max(self.compact_after_bytes, 2 * size)
        self.compactions += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _queue(endpoint: Endpoint, name: str) -> Queue | None:
    base, _, sub = name.partition("/")
    queue = endpoint.queues.get(base.lower())
    return queue.dlq if queue is not None and sub else queue


def _apply(endpoint: Endpoint, op: dict[str, Any]) -> None:
    queue = _queue(endpoint, op["q"])
    if queue is None:
        return  # the queue was removed from the configuration
    kind = op["op"]
    if kind in ("enqueue", "put"):
        message = StoredMessage.parse(base64.b64decode(op["payload"]))
        message.seq, message.enqueued_ms = op["seq"], op["at"]
        message.delivery_count = op.get("dc", 0)
        message.state = op.get("state") or ("scheduled" if op.get("sched") else "active")
        message.scheduled_ms = op.get("sched")
        message.extra_properties = [(str(k), str(v)) for k, v in op.get("extra", [])]
        message.dead_letter_source = op.get("src")
        queue.restore(message)
    elif kind == "seen":
        queue.seen[op["id"]] = op["at"]
    elif kind == "seq":
        queue.last_seq = max(queue.last_seq, op["last"])
    elif kind == "state":
        queue.session(op["sid"]).state = None if op["state"] is None else base64.b64decode(op["state"])
    else:
        _apply_change(queue, kind, op)


def _apply_change(queue: Queue, kind: str, op: dict[str, Any]) -> None:
    stored = queue.messages.get(op["seq"])
    if stored is None:
        return
    if kind == "remove":
        queue._remove(stored, record=False)
    elif kind == "count":
        stored.delivery_count = op["dc"]
    elif kind == "defer":
        stored.state = "deferred"
    elif kind == "dlq" and queue.dlq is not None:
        queue._remove(stored, record=False)
        queue.dlq.restore(stored.dead_lettered(op["dseq"], op["reason"], op["desc"], queue.config.name))


def _snapshot(endpoint: Endpoint) -> list[dict[str, Any]]:
    ops: list[dict[str, Any]] = []
    for main in endpoint.queues.values():
        for queue in (main, main.dlq):
            if queue is None:
                continue
            ops.append({"op": "seq", "q": queue.name, "last": queue.last_seq})
            ops.extend({"op": "seen", "q": queue.name, "id": k, "at": v} for k, v in queue.seen.items())
            for m in queue.messages.values():
                ops.append(
                    {
                        "op": "put",
                        "q": queue.name,
                        "seq": m.seq,
                        "at": m.enqueued_ms,
                        "sched": m.scheduled_ms,
                        "dc": m.delivery_count,
                        "state": m.state,
                        "extra": m.extra_properties,
                        "src": m.dead_letter_source,
                        "payload": b64(m.payload),
                    }
                )
            for s in queue.sessions.values():
                if s.state is not None:
                    ops.append({"op": "state", "q": queue.name, "sid": s.session_id, "state": b64(s.state)})
    return ops
