"""The local stand-in for IBM MQ: a folder inbox with syncpoint semantics built from atomic renames.

Layout under ``root`` (one filesystem, so every ``os.rename`` is atomic):

* ``tmp/`` — producers write here first (:func:`put_message`), so readers never see a partial file.
* ``new/`` — the queue. One file per message, ``<order>-<message_id>.b<backout_count>.msg``; ``order``
  is a 20-digit put time in nanoseconds, so name order is put order (FIFO).
* ``inflight/<owner>/`` — the owner's open unit of work. MQGET = rename one file from ``new/`` into it:
  the rename is the lock, so two consumers racing for a file get different files. A ``<name>.reason``
  sidecar next to a file marks it for the backout queue (:meth:`FolderMqSource.to_backout_queue`).
* ``committed/<owner>.<n>/`` — MQCMIT renames the whole ``inflight/<owner>/`` directory here in one
  atomic step, then finishes the work (delete, or move to ``done/`` when ``keep=True``; files with a
  reason sidecar go to ``backout/``). Finishing is idempotent and resumes after a crash.
* ``backout/`` — the backout queue: the message file plus its ``.reason`` file.
* ``input.lock`` — exclusive input (IBM MQ's ``MQOO_INPUT_EXCLUSIVE``): the first :meth:`get` of a
  source takes an advisory ``flock(LOCK_EX | LOCK_NB)`` on it and keeps it until :meth:`close`; while
  another source holds it, ``get`` returns ``None``. The kernel drops the lock when the holding process
  dies, as a queue manager closes the handles of a broken connection.

MQBACK renames each in-flight file back into ``new/`` under its original order key with the backout
count incremented (the count lives in the name, so the increment is the same atomic rename).

MQGET reads ``new/`` from a sorted snapshot of its names, listed again only when the snapshot is used
up (one directory listing per snapshot, not per message). Only the input holder gets, and every
backout this source makes and every loss of the input drops the snapshot, so a backed-out message is
the next one got, as before. A message put while a snapshot is in use is got after it; its order key
may be older than names still in the snapshot only when its producer had not finished the put (the
rename into ``new/``) when the snapshot was listed — a producer that puts one message after the other
is read in its own order, which is the order the queue promises.

Crashes: a process that dies with an open unit of work leaves files in ``inflight/<owner>/``. They are
backed out when a source with the same ``owner`` starts (a region process restarted by its host), when
the next source takes the input lock (only a holder has files in flight, so another owner's files are a
dead holder's: backing them out before the first get keeps the queue's order, as MQ backs out a broken
connection's work before another handle can read), or by any process calling
:meth:`FolderMqSource.recover_orphans` for units older than ``max_age_s``. After a
:class:`~shared.errors.ServiceUnavailable` (the folder vanished or became unreadable) the source
behaves as an MQ client whose connection broke: its open unit of work is backed out when the folder
is reachable again, before the next call proceeds (it keeps the input lock meanwhile, so nobody reads
past its backed-out messages).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from shared.adapters.mqi import InUseNotice
from shared.errors import ServiceUnavailable, TooLarge
from shared.model import MqMessage
from shared.ports import MqSource

SERVICE = "ibmmq"
_NAME = re.compile(r"^(?P<order>\d{20})-(?P<id>[0-9a-f]{48})\.b(?P<count>\d+)\.msg$")
_MESSAGE_ID = re.compile(r"^[0-9a-f]{48}$")
_POLL_S = 0.02
LOCK_FILE = "input.lock"
_T = TypeVar("_T")
_last_order = 0
_order_lock = threading.Lock()


def _next_order() -> int:
    """Nanoseconds since the epoch, strictly increasing within this process."""
    global _last_order  # noqa: PLW0603 - one counter per process is the point
    with _order_lock:
        _last_order = max(_last_order + 1, time.time_ns())
        return _last_order


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def put_message(root: str | os.PathLike[str], message_id: str, body: bytes) -> Path:
    """Producer side: put ``body`` on the inbox at ``root`` as ``message_id`` (48 hex digits, the size
    of an MQ MsgId). Written to ``tmp/`` and fsynced, then renamed into ``new/``, so a reader never sees
    a partial message. Returns the path of the queued file."""
    message_id = message_id.lower()
    if not _MESSAGE_ID.match(message_id):
        raise ValueError(f"message id must be 48 hex digits (an MQ MsgId), got {message_id!r}")
    base = Path(root)
    for folder in ("tmp", "new"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    name = f"{_next_order():020d}-{message_id}.b0.msg"
    staging = base / "tmp" / f"{name}.{uuid.uuid4().hex}"
    _fsync_write(staging, body)
    target = base / "new" / name
    os.rename(staging, target)
    return target


def _with_count(name: str, count: int) -> str:
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"not an inbox message name: {name!r}")
    return f"{match['order']}-{match['id']}.b{count}.msg"


def _listing(folder: Path) -> list[str]:
    """Sorted names in ``folder``; empty if a concurrent process renamed or removed it."""
    try:
        return sorted(os.listdir(folder))
    except FileNotFoundError:
        return []


def _rename_if_present(source: Path, target: Path) -> bool:
    try:
        os.rename(source, target)
    except FileNotFoundError:
        return False
    return True


class FolderMqSource(MqSource):
    """:class:`~shared.ports.MqSource` over a folder inbox (see the module docstring for the layout).

    ``owner`` names this consumer's unit of work (e.g. ``DC04-queue-builder``); it must be unique
    among live processes. Starting a source backs out whatever a previous process with the same owner
    left in flight. ``keep=True`` moves committed messages to ``done/`` instead of deleting them.
    """

    def __init__(self, root: str | os.PathLike[str], owner: str, *, keep: bool = False) -> None:
        if not owner or "/" in owner or owner.startswith("."):
            raise ValueError(f"owner must be a plain folder name, got {owner!r}")
        self.root = Path(root)
        self.owner = owner
        self.keep = keep
        self._lock = threading.RLock()
        self._commits = itertools.count()
        self._broken = False
        self._lost = False
        self._input_fd: int | None = None  # the flock on input.lock while this source holds the input
        self._snapshot: list[str] = []  # names of new/ still to try, newest first (pop() = oldest)
        self.in_use = InUseNotice(str(self.root))
        for folder in ("tmp", "new", "inflight", "committed", "backout", "done"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        self._reconnect()

    @property
    def _inflight(self) -> Path:
        return self.root / "inflight" / self.owner

    # -- the port -----------------------------------------------------------------------------------

    def get(self, wait_s: float = 0.0, max_bytes: int | None = None) -> MqMessage | None:
        """Take the oldest file of ``new/`` into this owner's unit of work; poll up to ``wait_s``.
        ``None`` at once while another source holds the input lock; ``TooLarge`` (file left in
        ``new/``) when that file has more than ``max_bytes`` bytes."""
        deadline = time.monotonic() + max(wait_s, 0.0)
        with self._lock:
            if not self._io("get", self._hold_input):
                self.in_use.refused()
                return None
            self.in_use.taken()
            while True:
                message = self._io("get", lambda: self._take_oldest(max_bytes))
                if message is not None or time.monotonic() >= deadline:
                    return message
                time.sleep(min(_POLL_S, max(deadline - time.monotonic(), 0.0)))

    def commit(self) -> None:
        """Make the unit of work permanent in one atomic directory rename, then finish it."""
        with self._lock:
            self._io("commit", self._commit)

    def backout(self) -> None:
        """Return every in-flight message to ``new/`` at its original position, backout count + 1."""
        with self._lock:
            self._io("backout", lambda: self._back_out_folder(self._inflight))

    def to_backout_queue(self, message: MqMessage, reason: str) -> None:
        """Mark ``message`` (in flight here) for ``backout/`` with ``reason``; it moves on commit."""
        with self._lock:
            self._io("to_backout_queue", lambda: self._mark_for_backout(message, reason))

    def depth(self) -> int:
        """Messages waiting in ``new/``."""
        return self._io("depth", lambda: sum(1 for _ in self._queued()))

    # -- recovery -------------------------------------------------------------------------------------

    def recover_orphans(self, max_age_s: float) -> int:
        """Back out other owners' units of work untouched for ``max_age_s`` (their process is presumed
        dead) and finish any committed unit left half-done. Returns the number of messages backed out.

        A live owner slower than ``max_age_s`` loses its messages to redelivery; downstream duplicate
        detection (Service Bus MessageId, create-only WAL) absorbs the repeat.
        """

        def recover() -> int:
            self._finish_committed()
            cutoff = time.time() - max_age_s
            recovered = 0
            for folder in sorted((self.root / "inflight").iterdir()):
                if folder.name == self.owner or not folder.is_dir():
                    continue
                files = [path for path in folder.iterdir() if _NAME.match(path.name)]
                if files and all(path.stat().st_mtime <= cutoff for path in files):
                    recovered += self._back_out_folder(folder)
            return recovered

        with self._lock:
            return self._io("recover_orphans", recover)

    def backout_queue(self) -> list[tuple[str, str]]:
        """``(message_id, reason)`` of every message on the backout queue, oldest first."""

        def read() -> list[tuple[str, str]]:
            found = []
            for path in sorted((self.root / "backout").iterdir()):
                match = _NAME.match(path.name)
                if match:
                    reason_file = path.with_name(path.name + ".reason")
                    reason = reason_file.read_text("utf-8") if reason_file.exists() else ""
                    found.append((match["id"], reason))
            return found

        return self._io("backout_queue", read)

    def close(self) -> None:
        """Back out any open unit of work (an orderly stop never commits implicitly), then release the
        input lock, even when the backout failed (the next holder backs the files out)."""
        with self._lock:
            try:
                self._io("close", lambda: self._back_out_folder(self._inflight))
            finally:
                self._release_input()

    def abandon(self) -> None:
        """Drop the input lock and leave the unit of work in flight: what the kernel does when the
        process dies (tests and drills use it to stand for ``kill -9`` inside one process)."""
        with self._lock:
            self._release_input()

    def holds_input(self) -> bool:
        """Whether this source holds the input lock now."""
        return self._input_fd is not None

    # -- internals ------------------------------------------------------------------------------------

    def _io(self, what: str, action: Callable[[], _T]) -> _T:
        with self._lock:
            return self._io_locked(what, action)

    def _io_locked(self, what: str, action: Callable[[], _T]) -> _T:
        try:
            if not self._inflight.is_dir():  # the inbox (or this owner's part of it) is gone
                raise FileNotFoundError(f"{self._inflight} is missing")
            if self._broken:
                self._lost = self._reconnect() > 0 or self._lost
            if self._lost and what == "commit":
                self._lost = False
                raise ServiceUnavailable(SERVICE, "the unit of work was backed out when the folder went away")
            if what == "backout":
                self._lost = False
            return action()
        except OSError as error:
            self._broken = True
            self._snapshot = []
            raise ServiceUnavailable(SERVICE, f"folder inbox {self.root}: {what} failed: {error}") from error

    def _hold_input(self) -> bool:
        """Take the input lock if free (then back out dead holders' units first); whether we hold it."""
        if self._input_fd is not None:
            return True
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError:
            os.close(fd)
            raise
        self._input_fd = fd
        self._finish_committed()
        for folder in sorted((self.root / "inflight").iterdir()):
            if folder.name != self.owner and folder.is_dir():
                self._back_out_folder(folder)
        return True

    def _release_input(self) -> None:
        self._snapshot = []  # another holder reads new/ meanwhile
        fd, self._input_fd = self._input_fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor of the open file releases the flock

    def _reconnect(self) -> int:
        """Like an MQ reconnect: finish own committed work, back out the open unit; how many returned."""
        if not (self.root / "new").is_dir():
            raise FileNotFoundError(f"{self.root / 'new'} is missing")
        self._inflight.mkdir(parents=True, exist_ok=True)
        self._finish_committed(prefix=f"{self.owner}.")
        returned = self._back_out_folder(self._inflight)
        self._broken = False
        return returned

    def _queued(self) -> Iterator[str]:
        return (name for name in os.listdir(self.root / "new") if _NAME.match(name))

    def _take_oldest(self, max_bytes: int | None = None) -> MqMessage | None:
        """The oldest message of the snapshot that is still in ``new/``; the snapshot is listed again
        (at most once per call) when it is used up. A file above ``max_bytes`` stays where it is
        (and first in the snapshot): ``TooLarge``."""
        listed = False
        while True:
            if not self._snapshot:
                if listed:
                    return None
                self._snapshot = sorted(self._queued(), reverse=True)
                listed = True
                continue
            name = self._snapshot.pop()
            if max_bytes is not None:
                try:
                    size = (self.root / "new" / name).stat().st_size
                except FileNotFoundError:
                    continue  # gone since the listing
                if size > max_bytes:
                    self._snapshot.append(name)
                    raise TooLarge(size, max_bytes)
            taken = self._inflight / name
            if not _rename_if_present(self.root / "new" / name, taken):
                continue  # gone since the listing (another consumer, or a recovery renamed it)
            os.utime(taken)  # the in-flight age that recover_orphans measures starts now
            match = _NAME.match(name)
            assert match is not None
            order = int(match["order"])
            return MqMessage(
                message_id=match["id"],
                body=taken.read_bytes(),
                backout_count=int(match["count"]),
                put_time=datetime.fromtimestamp(order / 1e9, UTC),
            )
        return None

    def _in_flight_name(self, message_id: str) -> str:
        for name in os.listdir(self._inflight):
            match = _NAME.match(name)
            if match and match["id"] == message_id:
                return name
        raise ValueError(f"message {message_id} is not in {self.owner}'s unit of work")

    def _mark_for_backout(self, message: MqMessage, reason: str) -> None:
        name = self._in_flight_name(message.message_id)
        sidecar = self._inflight / f"{name}.reason"
        staging = self.root / "tmp" / f"{name}.reason.{uuid.uuid4().hex}"
        _fsync_write(staging, reason.encode("utf-8"))
        os.replace(staging, sidecar)

    def _commit(self) -> None:
        if not any(_NAME.match(name) for name in os.listdir(self._inflight)):
            return
        stamp = f"{time.time_ns():020d}{next(self._commits):04d}"
        done = self.root / "committed" / f"{self.owner}.{stamp}"
        os.rename(self._inflight, done)  # the commit point
        self._inflight.mkdir()
        self._finish(done)

    def _finish_committed(self, prefix: str = "") -> None:
        for folder in sorted((self.root / "committed").iterdir()):
            if folder.name.startswith(prefix):
                self._finish(folder)

    def _finish(self, folder: Path) -> None:
        """Move a committed unit's files to their final place; safe to repeat after a crash."""
        for name in _listing(folder):  # empty when another process finished it
            if not _NAME.match(name):
                continue
            source, reason = folder / name, folder / f"{name}.reason"
            if reason.exists():
                _rename_if_present(source, self.root / "backout" / name)
            elif self.keep:
                _rename_if_present(source, self.root / "done" / name)
            else:
                source.unlink(missing_ok=True)
        for name in _listing(folder):
            if name.endswith(".reason"):
                _rename_if_present(folder / name, self.root / "backout" / name)
        with contextlib.suppress(OSError):  # not empty (a concurrent finisher) or already gone
            folder.rmdir()

    def _back_out_folder(self, folder: Path) -> int:
        self._snapshot = []  # the returned messages go before the snapshot's names
        returned = 0
        for name in _listing(folder):
            match = _NAME.match(name)
            if match is None:
                continue
            target = self.root / "new" / _with_count(name, int(match["count"]) + 1)
            if _rename_if_present(folder / name, target):
                returned += 1
        for name in _listing(folder):
            if name.endswith(".reason"):
                (folder / name).unlink(missing_ok=True)
        return returned
