"""A fake of PyPI ``ibmmq`` 2.1.2: exactly the MQI subset the adapters use, with MQI's semantics.

Queue managers live in this process (:func:`queue_manager` creates or finds one by name) and every
"connection" to the same name shares its queues. Semantics kept from the IBM MQ reference:

* MQGET with ``MQGMO_SYNCPOINT`` locks the message to the connection's unit of work: invisible to
  others until MQCMIT (gone) or MQBACK (back at its original position, ``BackoutCount`` + 1).
  MQPUT with ``MQPMO_SYNCPOINT`` is invisible until MQCMIT and removed by MQBACK.
* ``CURRENT_Q_DEPTH`` drops on MQGET and rises on MQPUT even inside a unit of work (MQINQ docs).
* MQDISC commits an open unit of work (MQDISC usage notes); a connection that breaks (process
  crash, network loss: :meth:`FakeQueueManager.sever_connections`, :meth:`FakeQueueManager.stop`)
  has its unit of work backed out, and every later call on it fails ``MQRC_CONNECTION_BROKEN``.
* Input opens are exclusive when asked: while a handle holds a queue ``MQOO_INPUT_EXCLUSIVE``, any
  other input open of it fails ``MQRC_OBJECT_IN_USE`` (2042), and an exclusive open fails the same
  way while any other input handle is open (``MQOO_INPUT_AS_Q_DEF`` counts as shared, the default
  DEFSOPT). MQCLOSE, MQDISC and a broken connection release the handle.
* A stopped queue manager refuses connections with ``MQRC_HOST_NOT_AVAILABLE``.
* A supplied MsgId is kept on MQPUT; an empty one (``MQMI_NONE``) gets a new unique id.

Not modelled: data conversion (``MQGMO_CONVERT`` is accepted and ignored), message properties,
priorities, segmentation, truncation (``maxLength`` must be ``None``).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from . import CMQC, CMQXC

__all__ = [
    "CD",
    "CMQC",
    "CMQXC",
    "GMO",
    "MD",
    "PMO",
    "SCO",
    "MQMIError",
    "PYIFError",
    "Queue",
    "QueueManager",
]
__version__ = "2.1.2-fake"


class Error(Exception):
    """Base of the library's errors."""


class MQMIError(Error):
    """An MQI call failed: completion code ``comp`` and reason code ``reason`` as in ``ibmmq``."""

    def __init__(self, comp: int, reason: int, **kw: Any) -> None:
        super().__init__(comp, reason)
        self.comp, self.reason = comp, reason
        for key, value in kw.items():  # as ibmmq: e.g. original_length on MQRC_TRUNCATED_MSG_FAILED
            setattr(self, key, value)

    def __str__(self) -> str:
        return f"MQI Error. Comp {self.comp}, Reason {self.reason}"


class PYIFError(Error):
    """The library itself refused the call."""


def _fail(reason: int) -> MQMIError:
    return MQMIError(CMQC.MQCC_FAILED, reason)


class _Struct:
    """Attribute bag with the real structure's field names and defaults; unknown names are refused."""

    _fields: ClassVar[dict[str, Any]] = {}

    def __init__(self, **kw: Any) -> None:
        for name, default in self._fields.items():
            setattr(self, name, default)
        for name, value in kw.items():
            self[name] = value

    def __setitem__(self, name: str, value: Any) -> None:
        if name not in self._fields:
            raise AttributeError(name)
        setattr(self, name, value.encode("ascii") if isinstance(value, str) else value)

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)

    if TYPE_CHECKING:  # the fields are set from _fields at run time

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...


class MD(_Struct):
    _fields: ClassVar[dict[str, Any]] = {
        "Encoding": CMQC.MQENC_NATIVE,
        "CodedCharSetId": CMQC.MQCCSI_Q_MGR,
        "Format": b"",
        "Persistence": CMQC.MQPER_PERSISTENCE_AS_Q_DEF,
        "MsgId": b"",
        "CorrelId": b"",
        "BackoutCount": 0,
        "PutDate": b"",
        "PutTime": b"",
    }


class GMO(_Struct):
    _fields: ClassVar[dict[str, Any]] = {"Options": 0, "WaitInterval": 0, "MatchOptions": 3}


class PMO(_Struct):
    _fields: ClassVar[dict[str, Any]] = {"Options": 0}


class CD(_Struct):
    _fields: ClassVar[dict[str, Any]] = {
        "ChannelName": b"",
        "ChannelType": CMQXC.MQCHT_CLNTCONN,
        "TransportType": CMQXC.MQXPT_TCP,
        "ConnectionName": b"",
        "SSLCipherSpec": b"",
        "HeartbeatInterval": 300,
    }


class SCO(_Struct):
    _fields: ClassVar[dict[str, Any]] = {"KeyRepository": b""}


@dataclass
class _Message:
    seq: int
    body: bytes
    msg_id: bytes
    correl_id: bytes
    md: dict[str, Any]
    backout_count: int = 0
    holder: _Connection | None = None  # the unit of work that got it
    put_by: _Connection | None = None  # uncommitted put


@dataclass
class _Connection:
    qmgr: FakeQueueManager
    options: dict[str, Any]
    gets: list[tuple[str, _Message]] = field(default_factory=list)
    puts: list[tuple[str, _Message]] = field(default_factory=list)
    broken: bool = False
    closed: bool = False


class FakeQueueManager:
    """The shared state of one queue manager (test helpers, not part of the ``ibmmq`` API)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.available = True
        self.credentials: tuple[str, str] | None = None  # required user/password, if any
        self.queues: dict[str, list[_Message]] = {}
        self.connections: list[_Connection] = []
        self.input_handles: dict[str, list[tuple[_Connection, Queue, bool]]] = {}  # queue -> open inputs
        self.cond = threading.Condition()
        self._seq = itertools.count(1)

    def define_queue(self, name: str) -> None:
        with self.cond:
            self.queues.setdefault(name, [])

    def put(self, queue: str, body: bytes, msg_id: bytes = b"", correl_id: bytes = b"") -> bytes:
        """Another application puts (and commits) a message; returns its MsgId."""
        with self.cond:
            message = self._new(queue, body, msg_id, correl_id, {})
            self.cond.notify_all()
            return message.msg_id

    def messages(self, queue: str) -> list[_Message]:
        """Committed messages not held by any unit of work, in queue order."""
        with self.cond:
            return [m for m in self.queues[queue] if m.holder is None and m.put_by is None]

    def sever_connections(self, only: _Connection | None = None) -> None:
        """Every connection (or ``only`` that one) breaks (process killed, network lost): open work is
        backed out and the connection's handles are closed."""
        with self.cond:
            for connection in self.connections:
                if not connection.closed and only in (None, connection):
                    self._end_unit(connection, commit=False)
                    self._release_handles(connection)
                    connection.broken = True
            self.cond.notify_all()

    def stop(self) -> None:
        self.available = False
        self.sever_connections()

    def start(self) -> None:
        self.available = True

    def _new(self, queue: str, body: bytes, msg_id: bytes, correl_id: bytes, md: dict[str, Any]) -> _Message:
        if queue not in self.queues:
            raise _fail(CMQC.MQRC_UNKNOWN_OBJECT_NAME)
        seq = next(self._seq)
        if not msg_id.strip(b"\0"):
            msg_id = b"AMQ " + self.name.encode()[:12].ljust(12) + seq.to_bytes(8, "big")
        now = time.gmtime()
        md = dict(
            md, PutDate=time.strftime("%Y%m%d", now).encode(), PutTime=time.strftime("%H%M%S00", now).encode()
        )
        message = _Message(seq, body, msg_id.ljust(24, b"\0"), correl_id.ljust(24, b"\0"), md)
        self.queues[queue].append(message)
        return message

    def _open_input(self, connection: _Connection, queue: Queue, name: str, exclusive: bool) -> None:
        handles = self.input_handles.setdefault(name, [])
        if any(held or exclusive for _, _, held in handles):
            raise _fail(CMQC.MQRC_OBJECT_IN_USE)
        handles.append((connection, queue, exclusive))

    def _release_handles(self, connection: _Connection, queue: Queue | None = None) -> None:
        for name, handles in self.input_handles.items():
            self.input_handles[name] = [
                h for h in handles if h[0] is not connection or (queue is not None and h[1] is not queue)
            ]

    def _end_unit(self, connection: _Connection, *, commit: bool) -> None:
        for queue, message in connection.gets:
            if commit:
                self.queues[queue].remove(message)
            else:
                message.holder, message.backout_count = None, message.backout_count + 1
        for queue, message in connection.puts:
            if commit:
                message.put_by = None
            else:
                self.queues[queue].remove(message)
        connection.gets.clear()
        connection.puts.clear()
        self.cond.notify_all()


_QUEUE_MANAGERS: dict[str, FakeQueueManager] = {}


def queue_manager(name: str) -> FakeQueueManager:
    """The fake queue manager ``name`` (created on first use)."""
    return _QUEUE_MANAGERS.setdefault(name, FakeQueueManager(name))


def reset() -> None:
    """Forget every queue manager (between tests)."""
    _QUEUE_MANAGERS.clear()


class QueueManager:
    """``ibmmq.QueueManager``: only the deferred form ``QueueManager(None)`` + ``connect_with_options``."""

    def __init__(self, name: str | bytes | None = "") -> None:
        if name is not None:
            raise PYIFError("the fake supports QueueManager(None) + connect_with_options only")
        self._connection: _Connection | None = None

    def connect_with_options(self, name: str | bytes, **kwargs: Any) -> None:
        key = name.decode() if isinstance(name, bytes) else name
        qmgr = _QUEUE_MANAGERS.get(key)
        if qmgr is None:
            raise _fail(CMQC.MQRC_Q_MGR_NAME_ERROR)
        if not qmgr.available:
            raise _fail(CMQC.MQRC_HOST_NOT_AVAILABLE)
        if qmgr.credentials and qmgr.credentials != (kwargs.get("user"), kwargs.get("password")):
            raise _fail(CMQC.MQRC_NOT_AUTHORIZED)
        with qmgr.cond:
            self._connection = _Connection(qmgr, kwargs)
            qmgr.connections.append(self._connection)

    def _live(self) -> _Connection:
        connection = self._connection
        if connection is None or connection.closed:
            raise PYIFError("not connected")
        if connection.broken:
            raise _fail(CMQC.MQRC_CONNECTION_BROKEN)
        return connection

    def commit(self) -> None:
        connection = self._live()
        with connection.qmgr.cond:
            connection.qmgr._end_unit(connection, commit=True)

    def backout(self) -> None:
        connection = self._live()
        with connection.qmgr.cond:
            connection.qmgr._end_unit(connection, commit=False)

    def disconnect(self) -> None:
        connection = self._live()
        with connection.qmgr.cond:
            connection.qmgr._end_unit(connection, commit=True)  # MQDISC commits (usage notes)
            connection.qmgr._release_handles(connection)
            connection.closed = True


class Queue:
    """``ibmmq.Queue`` opened at construction: ``Queue(qmgr, name, open_options)``."""

    def __init__(self, qmgr: QueueManager, name: str | bytes, options: int) -> None:
        self._connection = qmgr._live()
        self._qmgr, self._options = qmgr, options
        self._name = name.decode() if isinstance(name, bytes) else name
        qmgr_state = self._connection.qmgr
        if self._name not in qmgr_state.queues:
            raise _fail(CMQC.MQRC_UNKNOWN_OBJECT_NAME)
        inputs = CMQC.MQOO_INPUT_AS_Q_DEF | CMQC.MQOO_INPUT_SHARED | CMQC.MQOO_INPUT_EXCLUSIVE
        if options & inputs:
            with qmgr_state.cond:
                exclusive = bool(options & CMQC.MQOO_INPUT_EXCLUSIVE)
                qmgr_state._open_input(self._connection, self, self._name, exclusive)

    def _require(self, flags: int, reason: int) -> FakeQueueManager:
        self._qmgr._live()
        if not self._options & flags:
            raise _fail(reason)
        return self._connection.qmgr

    def get(self, maxLength: int | None = None, md: MD | None = None, gmo: GMO | None = None) -> bytes:
        """MQGET. With ``maxLength`` and without ``MQGMO_ACCEPT_TRUNCATED_MSG`` a longer message fails
        with MQRC_TRUNCATED_MSG_FAILED (MQCC_WARNING, ``original_length`` set) and stays on the queue,
        as ibmmq's ``Queue.get`` reports it; truncation itself (accepting part of a message) is not
        modelled."""
        inputs = CMQC.MQOO_INPUT_AS_Q_DEF | CMQC.MQOO_INPUT_SHARED | CMQC.MQOO_INPUT_EXCLUSIVE
        qmgr = self._require(inputs, CMQC.MQRC_NOT_OPEN_FOR_INPUT)
        md, gmo = md or MD(), gmo or GMO()
        wait = gmo.WaitInterval / 1000 if gmo.Options & CMQC.MQGMO_WAIT else 0.0
        deadline = time.monotonic() + wait
        with qmgr.cond:
            while True:
                self._qmgr._live()
                message = next((m for m in qmgr.messages(self._name) if self._matches(m, md, gmo)), None)
                if message is not None:
                    if maxLength is not None and len(message.body) > maxLength:
                        if gmo.Options & CMQC.MQGMO_ACCEPT_TRUNCATED_MSG:
                            raise PYIFError("the fake does not model accepted truncation")
                        raise MQMIError(
                            CMQC.MQCC_WARNING,
                            CMQC.MQRC_TRUNCATED_MSG_FAILED,
                            original_length=len(message.body),
                        )
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _fail(CMQC.MQRC_NO_MSG_AVAILABLE)
                qmgr.cond.wait(remaining)
            if gmo.Options & CMQC.MQGMO_SYNCPOINT:
                message.holder = self._connection
                self._connection.gets.append((self._name, message))
            else:
                qmgr.queues[self._name].remove(message)
        for name, value in message.md.items():
            md[name] = value
        md.MsgId, md.CorrelId, md.BackoutCount = message.msg_id, message.correl_id, message.backout_count
        return message.body

    @staticmethod
    def _matches(message: _Message, md: MD, gmo: GMO) -> bool:
        wanted_id, wanted_correl = bytes(md.MsgId).strip(b"\0"), bytes(md.CorrelId).strip(b"\0")
        if (
            wanted_id
            and gmo.MatchOptions & CMQC.MQMO_MATCH_MSG_ID
            and message.msg_id.strip(b"\0") != wanted_id
        ):
            return False
        return not (
            wanted_correl
            and gmo.MatchOptions & CMQC.MQMO_MATCH_CORREL_ID
            and message.correl_id.strip(b"\0") != wanted_correl
        )

    def put(self, msg: bytes, md: MD | None = None, pmo: PMO | None = None) -> None:
        if not isinstance(msg, bytes):
            raise TypeError("Message type is not bytes")
        qmgr = self._require(CMQC.MQOO_OUTPUT, CMQC.MQRC_NOT_OPEN_FOR_OUTPUT)
        md, pmo = md or MD(), pmo or PMO()
        msg_id = b"" if pmo.Options & CMQC.MQPMO_NEW_MSG_ID else bytes(md.MsgId)
        fields = {k: md[k] for k in ("Format", "Encoding", "CodedCharSetId", "Persistence")}
        with qmgr.cond:
            message = qmgr._new(self._name, msg, msg_id, bytes(md.CorrelId), fields)
            if pmo.Options & CMQC.MQPMO_SYNCPOINT:
                message.put_by = self._connection
                self._connection.puts.append((self._name, message))
            qmgr.cond.notify_all()
        md.MsgId = message.msg_id

    def inquire(self, selector: int) -> int:
        qmgr = self._require(CMQC.MQOO_INQUIRE, CMQC.MQRC_NOT_OPEN_FOR_INQUIRE)
        if selector != CMQC.MQIA_CURRENT_Q_DEPTH:
            raise PYIFError(f"the fake inquires CURRENT_Q_DEPTH only, not {selector}")
        with qmgr.cond:
            return sum(1 for m in qmgr.queues[self._name] if m.holder is None)

    def close(self) -> None:
        self._qmgr._live()
        with self._connection.qmgr.cond:
            self._connection.qmgr._release_handles(self._connection, self)
