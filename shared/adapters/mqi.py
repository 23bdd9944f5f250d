"""The MQI plumbing shared by the IBM MQ adapters, over PyPI ``ibmmq`` (IBM's maintained successor
of ``pymqi``, same MQI calls).

``ibmmq`` needs IBM's MQ client libraries (``libmqm_r.so``), which no package registry ships, so it is
imported lazily (:func:`load_ibmmq`), on the first connection, never at module import; a missing
client raises :class:`~shared.errors.ConfigurationError` naming it.

:class:`MqiConnection` is one client connection (MQCONNX with an MQCD: channel, ``host(port)`` list,
optional TLS cipher and key repository, optional user/password in the MQCSP) that reconnects lazily
after the queue manager or the network went away. Reason codes (MQRC) are mapped by :func:`mq_error`:
a lost connection, an unreachable host or a quiescing queue manager raise
:class:`~shared.errors.ServiceUnavailable` (the queue manager backs out the open unit of work of a lost
connection); a wrong name, missing authority or TLS setup raise ``ConfigurationError``; anything else is
``ServiceUnavailable`` with the MQRC in the message (retry; an operator sees the code).
``MQRC_OBJECT_IN_USE`` (2042, an MQOPEN refused because another handle holds the queue for exclusive
input) raises :class:`InputInUse`, so a reader can tell "someone else reads" from a failure.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from xml.sax.saxutils import escape

from shared.errors import BridgeError, ConfigurationError, ServiceUnavailable
from shared.telemetry import log_event, metrics

SERVICE = "ibmmq"
log = logging.getLogger("bridge.mq")

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
MQRC_TRUNCATED_MSG_FAILED = 2080  # MQGET: buffer too small, message left on the queue
MQRC_OBJECT_IN_USE = 2042


class InputInUse(ServiceUnavailable):
    """MQOPEN for input refused with ``MQRC_OBJECT_IN_USE``: another handle holds the queue exclusively."""


class InUseNotice:
    """Counts every refused input take as metric ``mq_input_in_use`` and logs once per streak (the
    first refusal after the input was free or held by us), so a standby does not flood the log."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.streak = False

    def refused(self) -> None:
        metrics.incr("mq_input_in_use")
        if not self.streak:
            self.streak = True
            log_event(log, logging.INFO, "mq.input_in_use", queue=self.queue)

    def taken(self) -> None:
        if self.streak:
            self.streak = False
            log_event(log, logging.INFO, "mq.input_taken", queue=self.queue)


def load_ibmmq() -> ModuleType:
    """Import ``ibmmq`` now; ``ConfigurationError`` when it or IBM's MQ client libraries are missing."""
    try:
        import ibmmq  # noqa: PLC0415 - lazy on purpose: importing it needs the native MQ client
    except (ImportError, OSError) as error:
        raise ConfigurationError(
            [
                "IBM MQ: cannot load the IBM MQ client (python package 'ibmmq' over IBM's MQ "
                f"client libraries, libmqm_r.so): {error}. Install the IBM MQ redistributable client "
                "with the app (docs/onprem.md)"
            ]
        ) from error
    module: ModuleType = ibmmq
    return module


def mq_error(error: Exception, what: str, service: str = SERVICE) -> BridgeError:
    """The project error for an ``ibmmq.MQMIError`` (anything with ``comp``/``reason``)."""
    reason = int(getattr(error, "reason", 0))
    if reason == MQRC_OBJECT_IN_USE:
        return InputInUse(service, f"{what}: MQRC_OBJECT_IN_USE ({reason}): {error}")
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
    client's key repository stem (MQSCO.KeyRepository). ``heartbeat_s`` is the client's MQCD
    ``HeartbeatInterval``: the channel runs with the larger of the client's and the SVRCONN's ``HBINT``,
    and the queue manager notices a dead client (and releases its exclusive input handle) only through
    the heartbeat, so both sides are kept short (the MQCD default is 300 s; docs/onprem.md).
    """

    queue_manager: str
    conn_name: str
    channel: str
    user: str = ""
    password: str = field(default="", repr=False)
    cipher_spec: str = ""
    key_repository: str = ""
    heartbeat_s: int = 15


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
                HeartbeatInterval=config.heartbeat_s,
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
    part in little-endian integers (the put's MQMD says ``MQENC_NATIVE``, little-endian on the
    x86-64 and arm64 hosts the app runs on), then one NameValueLength + NameValueData (UTF-8, padded with
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
