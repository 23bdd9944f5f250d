"""IBM MQ through the MQI, with PyPI ``ibmmq`` (IBM's maintained successor of ``pymqi``).

``ibmmq`` needs IBM's MQ client libraries (``libmqm_r.so``), which no package registry ships, so it is
imported lazily, on the first connection, never at module import; a missing client raises
:class:`~shared.errors.ConfigurationError` naming it.

:class:`MqiConnection` is one client connection (MQCONNX with an MQCD: channel, ``host(port)`` list,
optional TLS cipher and key repository, optional user/password in the MQCSP) that reconnects lazily
after the queue manager or the network went away. Reason codes (MQRC) are mapped by :func:`mq_error`:
a lost connection, an unreachable host or a quiescing queue manager raise
:class:`~shared.errors.ServiceUnavailable` (the queue manager backs out the open unit of work of a lost
connection); a wrong name, missing authority or TLS setup raise ``ConfigurationError``; anything else is
``ServiceUnavailable`` with the MQRC in the message (retry; an operator sees the code).

:class:`IbmMqSource` is the :class:`~shared.ports.MqSource`: MQGET with ``MQGMO_SYNCPOINT |
MQGMO_WAIT | MQGMO_FAIL_IF_QUIESCING | MQGMO_NO_PROPERTIES`` on a queue opened ``MQOO_INPUT_SHARED |
MQOO_INQUIRE``, MQCMIT/MQBACK on the connection, the backout queue written by MQPUT under syncpoint.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from xml.sax.saxutils import escape

from shared.adapters.folder_mq import FolderMqSource
from shared.errors import BridgeError, ConfigurationError, ServiceUnavailable
from shared.model import MqMessage
from shared.ports import MqSource
from shared.settings import Settings

SERVICE = "ibmmq"

# MQRC values (IBM MQ reference, "API reason codes"); names as in ibmmq.CMQC.
_CONNECTION_LOST = {
    2009: "MQRC_CONNECTION_BROKEN",
    2018: "MQRC_HCONN_ERROR",
    2059: "MQRC_Q_MGR_NOT_AVAILABLE",
    2161: "MQRC_Q_MGR_QUIESCING",
    2162: "MQRC_Q_MGR_STOPPING",
    2202: "MQRC_CONNECTION_QUIESCING",
    2203: "MQRC_CONNECTION_STOPPING",
    2537: "MQRC_CHANNEL_NOT_AVAILABLE",
    2538: "MQRC_HOST_NOT_AVAILABLE",
    2548: "MQRC_RECONNECT_FAILED",
    2549: "MQRC_CALL_INTERRUPTED",
    2556: "MQRC_RECONNECT_TIMED_OUT",
}
_MISCONFIGURED = {
    2035: "MQRC_NOT_AUTHORIZED",
    2058: "MQRC_Q_MGR_NAME_ERROR",
    2085: "MQRC_UNKNOWN_OBJECT_NAME",
    2393: "MQRC_SSL_INITIALIZATION_ERROR",
    2539: "MQRC_CHANNEL_CONFIG_ERROR",
    2540: "MQRC_UNKNOWN_CHANNEL_NAME",
}
MQRC_NO_MSG_AVAILABLE = 2033


def load_ibmmq() -> ModuleType:
    """Import ``ibmmq`` now; ``ConfigurationError`` when it or IBM's MQ client libraries are missing."""
    try:
        import ibmmq  # noqa: PLC0415 - lazy on purpose: importing it needs the native MQ client
    except (ImportError, OSError) as error:
        raise ConfigurationError(
            [
                "MQ_MODE=ibmmq: cannot load the IBM MQ client (python package 'ibmmq' over IBM's MQ "
                f"client libraries, libmqm_r.so): {error}. Install the IBM MQ redistributable client "
                "(or set MQ_MODE=folder for the local folder inbox)"
            ]
        ) from error
    module: ModuleType = ibmmq
    return module


def mq_error(error: Exception, what: str, service: str = SERVICE) -> BridgeError:
    """The project error for an ``ibmmq.MQMIError`` (anything with ``comp``/``reason``)."""
    reason = int(getattr(error, "reason", 0))
    if reason in _MISCONFIGURED:
        return ConfigurationError([f"IBM MQ {what}: {_MISCONFIGURED[reason]} ({reason}): {error}"])
    name = _CONNECTION_LOST.get(reason, f"MQRC {reason}")
    return ServiceUnavailable(service, f"{what}: {name}: {error}")


def connection_lost(error: Exception) -> bool:
    return int(getattr(error, "reason", 0)) in _CONNECTION_LOST


@dataclass(frozen=True)
class IbmMqConfig:
    """Where and how to connect: a client connection (MQCNO_CLIENT_BINDING) over TCP.

    ``conn_name`` is MQ's CONNAME, ``host(port)[,host(port)]`` (a multi-instance queue manager lists
    both). ``cipher_spec`` (e.g. ``ANY_TLS13_OR_HIGHER``) turns TLS on; ``key_repository`` is the
    client's key repository stem (MQSCO.KeyRepository).
    """

    queue_manager: str
    conn_name: str
    channel: str
    user: str = ""
    password: str = field(default="", repr=False)
    cipher_spec: str = ""
    key_repository: str = ""


class MqiConnection:
    """One MQI client connection with its open queues; reconnects on the next call after a loss.

    ``generation`` increases with every new connection, so a caller can tell that a unit of work it
    opened died with an earlier connection.
    """

    def __init__(self, config: IbmMqConfig, service: str = SERVICE) -> None:
        self.config = config
        self.service = service
        self.generation = 0
        self._mq: ModuleType | None = None
        self._qmgr: Any = None
        self._queues: dict[tuple[str, int], Any] = {}

    @property
    def mq(self) -> ModuleType:
        if self._mq is None:
            self._mq = load_ibmmq()
        return self._mq

    @property
    def connected(self) -> bool:
        return self._qmgr is not None

    def qmgr(self) -> Any:
        """The connected ``ibmmq.QueueManager``, connecting (MQCONNX) if needed."""
        if self._qmgr is None:
            mq, config = self.mq, self.config
            cd = mq.CD(
                ChannelName=config.channel.encode(),
                ConnectionName=config.conn_name.encode(),
                ChannelType=mq.CMQXC.MQCHT_CLNTCONN,
                TransportType=mq.CMQXC.MQXPT_TCP,
            )
            options: dict[str, Any] = {"cd": cd}
            if config.cipher_spec:
                cd.SSLCipherSpec = config.cipher_spec.encode()
                options["sco"] = mq.SCO(KeyRepository=config.key_repository.encode())
            if config.user:
                options.update(user=config.user, password=config.password)
            qmgr = mq.QueueManager(None)
            try:
                qmgr.connect_with_options(config.queue_manager, **options)
            except mq.MQMIError as error:
                where = f"connect to {config.queue_manager} at {config.conn_name}"
                raise mq_error(error, where, self.service) from error
            self._qmgr = qmgr
            self.generation += 1
        return self._qmgr

    def queue(self, name: str, options: int) -> Any:
        """The ``ibmmq.Queue`` ``name`` opened (MQOPEN) with ``options`` on this connection."""
        key = (name, options)
        if key not in self._queues:
            qmgr = self.qmgr()
            try:
                self._queues[key] = self.mq.Queue(qmgr, name, options)
            except self.mq.MQMIError as error:
                raise self.failed(error, f"open {name}") from error
        return self._queues[key]

    def failed(self, error: Exception, what: str) -> BridgeError:
        """Map ``error``; forget the connection if it is gone so the next call reconnects."""
        if connection_lost(error):
            self.drop()
        return mq_error(error, what, self.service)

    def drop(self) -> None:
        """Forget the connection without MQDISC (it is already gone, or we are abandoning it)."""
        self._queues.clear()
        self._qmgr = None

    def close(self) -> None:
        """MQCLOSE every queue and MQDISC. Callers back out first: MQDISC commits open work."""
        qmgr, queues = self._qmgr, list(self._queues.values())
        self.drop()
        if qmgr is None:
            return
        errors = (self.mq.MQMIError, self.mq.PYIFError)
        for queue in queues:
            with contextlib.suppress(*errors):  # best effort: MQDISC closes what is left
                queue.close()
        with contextlib.suppress(*errors):  # the connection is gone either way
            qmgr.disconnect()


def rfh2_with_properties(properties: dict[str, str], md: Any, body: bytes) -> bytes:
    """``body`` behind an MQRFH2 version 2 header whose ``usr`` folder carries ``properties`` as MQ
    user properties (IBM MQ reference, "MQRFH2 - Rules and formatting header 2"): the fixed 36-byte
    part in native little-endian integers, then one NameValueLength + NameValueData (UTF-8, padded with
    blanks to a multiple of 4). Encoding/CodedCharSetId/Format describe the body that follows and are
    copied from the message's original MQMD ``md``."""
    folder = "<usr>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in properties.items()) + "</usr>"
    data = folder.encode("utf-8")
    data += b" " * (-len(data) % 4)
    length = 36 + 4 + len(data)
    fmt = md.Format if isinstance(md.Format, bytes) else str(md.Format).encode("ascii")
    header = struct.pack(
        "<4s2i2i8s2i",
        b"RFH ",
        2,
        length,
        int(md.Encoding),
        int(md.CodedCharSetId),
        fmt.ljust(8)[:8],
        0,
        1208,
    )
    return header + struct.pack("<i", len(data)) + data + body


def put_time(md: Any) -> datetime | None:
    """MQMD PutDate ``YYYYMMDD`` and PutTime ``HHMMSSTH`` (GMT) as an aware datetime."""
    try:
        date = bytes(md.PutDate).decode("ascii").strip("\0 ")
        clock = bytes(md.PutTime).decode("ascii").strip("\0 ")
        stamp = datetime.strptime(date + clock[:6], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        return stamp.replace(microsecond=int(clock[6:8] or 0) * 10_000)
    except (AttributeError, TypeError, ValueError):
        return None


class IbmMqSource(MqSource):
    """The input queue read under syncpoint (see the module docstring for the MQI calls).

    ``to_backout_queue`` puts the message on ``backout_queue`` inside the unit of work, keeping MsgId
    and CorrelId and prepending an MQRFH2 whose ``usr`` folder holds ``BridgeReason`` (a user property
    for MQ Explorer, ``dspmq``-style tools and JMS readers); the body follows unchanged. ``close`` backs
    out before MQDISC, because MQDISC would commit an open unit of work (MQDISC usage notes).
    """

    def __init__(self, config: IbmMqConfig, queue: str, backout_queue: str, *, convert: bool = False) -> None:
        self.connection = MqiConnection(config)
        self.queue_name = queue
        self.backout_queue_name = backout_queue
        self.convert = convert
        self._unit: dict[str, Any] = {}  # message id -> its MQMD, for the backout queue
        self._unit_generation = 0
        self._lost = False  # gets of this unit of work died with an earlier connection

    def _input(self) -> Any:
        c = self.connection.mq.CMQC
        queue = self.connection.queue(
            self.queue_name, c.MQOO_INPUT_SHARED | c.MQOO_INQUIRE | c.MQOO_FAIL_IF_QUIESCING
        )
        self._note_loss()
        return queue

    def _note_loss(self) -> None:
        """After a reconnect, the gets made on the old connection were backed out by the queue manager."""
        if self._unit and self._unit_generation != self.connection.generation:
            self._unit.clear()
            self._lost = True

    def get(self, wait_s: float = 0.0) -> MqMessage | None:
        mq = self.connection.mq
        c = mq.CMQC
        queue = self._input()
        options = c.MQGMO_SYNCPOINT | c.MQGMO_WAIT | c.MQGMO_FAIL_IF_QUIESCING | c.MQGMO_NO_PROPERTIES
        md = mq.MD()
        if self.convert:
            options |= c.MQGMO_CONVERT
            md.CodedCharSetId = 1208
        gmo = mq.GMO(Options=options, WaitInterval=max(0, int(wait_s * 1000)))
        try:
            body = queue.get(None, md, gmo)
        except mq.MQMIError as error:
            if int(error.reason) == MQRC_NO_MSG_AVAILABLE:
                return None
            raise self.connection.failed(error, f"MQGET {self.queue_name}") from error
        if not self._unit:
            self._unit_generation = self.connection.generation
        message_id = bytes(md.MsgId).hex()
        self._unit[message_id] = md
        return MqMessage(message_id, bytes(body), int(md.BackoutCount), put_time(md))

    def commit(self) -> None:
        """MQCMIT; ``ServiceUnavailable`` if part of the unit of work died with a lost connection."""
        qmgr = self.connection.qmgr()
        self._note_loss()
        if self._lost:
            self._lost = False
            raise ServiceUnavailable(SERVICE, "unit of work backed out: the connection broke before MQCMIT")
        try:
            qmgr.commit()
        except self.connection.mq.MQMIError as error:
            raise self.connection.failed(error, "MQCMIT") from error
        finally:
            self._unit.clear()

    def backout(self) -> None:
        """MQBACK; without a live connection there is nothing to do (the queue manager backed out)."""
        self._lost = False
        if not self.connection.connected:
            self._unit.clear()
            return
        try:
            self.connection.qmgr().backout()
        except self.connection.mq.MQMIError as error:
            raise self.connection.failed(error, "MQBACK") from error
        finally:
            self._unit.clear()

    def to_backout_queue(self, message: MqMessage, reason: str) -> None:
        md = self._unit.get(message.message_id)
        if md is None:
            raise ValueError(f"message {message.message_id} was not got in this unit of work")
        mq = self.connection.mq
        c = mq.CMQC
        out = mq.MD(
            MsgId=md.MsgId,
            CorrelId=md.CorrelId,
            Format=c.MQFMT_RF_HEADER_2,
            Encoding=c.MQENC_NATIVE,
            CodedCharSetId=1208,
            Persistence=c.MQPER_PERSISTENT,
        )
        pmo = mq.PMO(Options=c.MQPMO_SYNCPOINT | c.MQPMO_FAIL_IF_QUIESCING)
        queue = self.connection.queue(self.backout_queue_name, c.MQOO_OUTPUT | c.MQOO_FAIL_IF_QUIESCING)
        payload = rfh2_with_properties({"BridgeReason": reason}, md, message.body)
        try:
            queue.put(payload, out, pmo)
        except mq.MQMIError as error:
            raise self.connection.failed(error, f"MQPUT {self.backout_queue_name}") from error

    def depth(self) -> int:
        mq = self.connection.mq
        try:
            return int(self._input().inquire(mq.CMQC.MQIA_CURRENT_Q_DEPTH))
        except mq.MQMIError as error:
            raise self.connection.failed(error, f"MQINQ {self.queue_name}") from error

    def close(self) -> None:
        """Back out any open unit of work, then MQCLOSE and MQDISC."""
        if self._unit and self.connection.connected:
            try:
                self.connection.qmgr().backout()
            except self.connection.mq.MQMIError:
                self.connection.drop()  # a lost connection is backed out by the queue manager
        self._unit.clear()
        self._lost = False
        self.connection.close()


def ibmmq_config(settings: Settings, env: Mapping[str, str] | None = None) -> IbmMqConfig:
    """The connection from settings; user, password and TLS come from ``env`` (default: the process
    environment, read now): ``MQ_USER``, ``MQ_PASSWORD`` (a Key Vault reference in Azure),
    ``MQ_CIPHER_SPEC``, ``MQ_KEY_REPOSITORY``."""
    extra = os.environ if env is None else env
    return IbmMqConfig(
        queue_manager=settings.mq_queue_manager,
        conn_name=settings.mq_conn_name,
        channel=settings.mq_channel,
        user=extra.get("MQ_USER", ""),
        password=extra.get("MQ_PASSWORD", ""),
        cipher_spec=extra.get("MQ_CIPHER_SPEC", ""),
        key_repository=extra.get("MQ_KEY_REPOSITORY", ""),
    )


def make_mq_source(settings: Settings, owner: str, env: Mapping[str, str] | None = None) -> MqSource:
    """The input queue for ``settings.mq_mode``: IBM MQ, or the folder inbox (``owner`` names the
    folder consumer's unit of work, e.g. ``DC04-queue-builder``). Nothing connects until first use."""
    if settings.mq_mode == "folder":
        return FolderMqSource(settings.mq_inbox_dir, owner)
    return IbmMqSource(ibmmq_config(settings, env), settings.mq_queue, settings.mq_backout_queue)
