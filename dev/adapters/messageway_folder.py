"""MessageWay's local stand-in: an outbox folder with one file per delivery, named by delivery key.

``<outbox>/<key>.fin`` holds the MT950 payload. It is written to ``<outbox>/.tmp/``, fsynced, then
published with ``os.link`` — create-only, atomic, and it fails if the name exists — so a reader never
sees a partial file, a crash mid-write leaves only a stray temporary file (never counted), and two
writers racing with the same key (two regions that both believe they are active) produce one file and
one counted repeat. ``<key>.json`` records who delivered first (message id, session id, region, epoch,
time). Every attempt, first or repeat, also appends one JSON line to ``deliveries.log`` (the outcome is
``delivered`` or ``repeat``), so a drill can count repeats independently of the files.

A real file-transfer agent that picks up ``*.fin`` files must leave them (or move them to a folder
this adapter is not asked about): :meth:`FolderDeliveryTarget.was_delivered` only sees the outbox.
"""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from shared.errors import ServiceUnavailable
from shared.ports import DeliveryTarget

SERVICE = "messageway"
LOG_NAME = "deliveries.log"
_KEY = re.compile(r"^[0-9A-Za-z_-]{1,128}$")
_T = TypeVar("_T")


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def read_log(outbox: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Every line of ``deliveries.log`` (one dict per delivery attempt), oldest first."""
    path = Path(outbox) / LOG_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


class FolderDeliveryTarget(DeliveryTarget):
    """:class:`~shared.ports.DeliveryTarget` writing ``<key>.fin`` files into ``outbox``.

    ``region`` is recorded with each attempt. ``repeats`` counts this object's deliveries that found
    the key already delivered (the log counts them across processes). ``clock`` is for tests.
    """

    def __init__(
        self,
        outbox: str | os.PathLike[str],
        region: str = "",
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.outbox = Path(outbox)
        self.region = region
        self.clock = clock
        self.repeats = 0
        self._lock = threading.Lock()
        (self.outbox / ".tmp").mkdir(parents=True, exist_ok=True)

    def deliver(self, delivery_key: str, payload: bytes, metadata: Mapping[str, str]) -> None:
        """Publish ``<key>.fin`` unless it exists (then count a repeat); log the attempt either way."""
        if not _KEY.match(delivery_key):
            raise ValueError(f"delivery key must be a plain file name stem, got {delivery_key!r}")
        self._io(f"deliver {delivery_key}", lambda: self._deliver(delivery_key, bytes(payload), metadata))

    def was_delivered(self, delivery_key: str) -> bool:
        """``True`` when ``<key>.fin`` exists (temporary files of an interrupted write never count)."""
        return self._io("was_delivered", lambda: self._check_outbox() and self._fin(delivery_key).exists())

    def probe(self) -> str:
        """The outbox and its staging folder exist (a delivery would land)."""
        self._io("probe", self._check_outbox)
        return "outbox present"

    def delivered_keys(self) -> list[str]:
        """Keys of every published file, sorted."""
        return self._io("list", lambda: sorted(p.name[:-4] for p in self.outbox.glob("*.fin")))

    def _fin(self, key: str) -> Path:
        return self.outbox / f"{key}.fin"

    def _check_outbox(self) -> bool:
        if not (self.outbox / ".tmp").is_dir():
            raise FileNotFoundError(f"outbox {self.outbox} is missing")
        return True

    def _deliver(self, key: str, payload: bytes, metadata: Mapping[str, str]) -> None:
        self._check_outbox()
        at = self.clock().isoformat()
        record = {
            "key": key,
            "message_id": metadata.get("message_id", ""),
            "session_id": metadata.get("session_id", ""),
            "region": metadata.get("region", self.region),
            "epoch": metadata.get("epoch", ""),
            "format": metadata.get("format", ""),
            "at": at,
            "pid": str(os.getpid()),  # which process delivered (a region may run its runner in several)
        }
        staging = self.outbox / ".tmp" / f"{key}.{uuid.uuid4().hex}"
        _write_synced(staging, payload)
        try:
            os.link(staging, self._fin(key))
            outcome = "delivered"
        except FileExistsError:
            outcome = "repeat"
        finally:
            staging.unlink()
        if outcome == "delivered":
            sidecar = self.outbox / ".tmp" / f"{key}.json.{uuid.uuid4().hex}"
            _write_synced(sidecar, json.dumps({**record, "delivered_at": at}).encode())
            os.replace(sidecar, self.outbox / f"{key}.json")
        else:
            with self._lock:
                self.repeats += 1
        self._append_log({**record, "outcome": outcome})

    def _append_log(self, record: Mapping[str, str]) -> None:
        line = (json.dumps(record, sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(self.outbox / LOG_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one O_APPEND write per line: concurrent writers never interleave
            os.fsync(fd)
        finally:
            os.close(fd)

    def _io(self, what: str, action: Callable[[], _T]) -> _T:
        try:
            return action()
        except OSError as error:
            raise ServiceUnavailable(SERVICE, f"outbox {self.outbox}: {what} failed: {error}") from error
