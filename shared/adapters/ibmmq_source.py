"""IBM MQ input: :class:`IbmMqSource`, the :class:`~shared.ports.MqSource` over the MQI.

MQGET with ``MQGMO_SYNCPOINT | MQGMO_WAIT | MQGMO_FAIL_IF_QUIESCING | MQGMO_NO_PROPERTIES`` on a queue
opened ``MQOO_INPUT_EXCLUSIVE`` (one reader at a time: a second opener gets ``MQRC_OBJECT_IN_USE``,
2042, and its ``get`` returns ``None``), MQCMIT/MQBACK on the connection, the backout queue written
by MQPUT under syncpoint, depth by MQINQ ``MQIA_CURRENT_Q_DEPTH`` on a separate ``MQOO_INQUIRE`` handle
(no input hold needed). ``get(max_bytes=N)`` passes an N-byte buffer without
``MQGMO_ACCEPT_TRUNCATED_MSG``: a longer message fails with ``MQRC_TRUNCATED_MSG_FAILED`` (2080), stays
on the queue, and its length comes back (``DataLength``; ``original_length`` in ``ibmmq``), raised as
:class:`~shared.errors.TooLarge` (IBM MQ reference, "MQGET", ``BufferLength``, and reason 2080:
https://www.ibm.com/docs/en/ibm-mq/9.4?topic=codes-2080-0820-rc2080-mqrc-truncated-msg-failed).
Connection handling, the lazy import
of ``ibmmq`` and the MQRC mapping are in :mod:`shared.adapters.mqi`; docs/onprem.md has the details.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from shared.adapters.mqi import (
    MQRC_NO_MSG_AVAILABLE,
    MQRC_TRUNCATED_MSG_FAILED,
    SERVICE,
    IbmMqConfig,
    InputInUse,
    InUseNotice,
    MqiConnection,
    put_time,
    rfh2_with_properties,
)
from shared.errors import ServiceUnavailable, TooLarge
from shared.model import MqMessage
from shared.ports import MqSource
from shared.settings import Settings

__all__ = ["IbmMqConfig", "IbmMqSource", "ibmmq_config"]


class IbmMqSource(MqSource):
    """The input queue read under syncpoint (see the module docstring for the MQI calls).

    ``to_backout_queue`` puts the message on ``backout_queue`` inside the unit of work, keeping MsgId
    and CorrelId and prepending an MQRFH2 whose ``usr`` folder holds ``BridgeReason`` (a user property
    shown by MQ Explorer, the ``amqsbcg`` sample and JMS readers); the body follows unchanged. ``close`` backs
    out before MQDISC, because MQDISC would commit an open unit of work (MQDISC usage notes); MQDISC
    also closes the exclusive input handle, and the next ``get`` connects and opens it again. A process
    that dies keeps the handle until the queue manager notices the broken connection (channel
    heartbeat, ``HBINT``: docs/onprem.md).
    """

    def __init__(self, config: IbmMqConfig, queue: str, backout_queue: str, *, convert: bool = False) -> None:
        self.connection = MqiConnection(config)
        self.queue_name = queue
        self.backout_queue_name = backout_queue
        self.convert = convert
        self._unit: dict[str, Any] = {}  # message id -> its MQMD, for the backout queue
        self._unit_generation = 0
        self._lost = False  # gets of this unit of work died with an earlier connection
        self.in_use = InUseNotice(queue)

    def _input(self) -> Any:
        """The exclusive input handle; ``InputInUse`` while another handle holds the queue."""
        c = self.connection.mq.CMQC
        queue = self.connection.queue(self.queue_name, c.MQOO_INPUT_EXCLUSIVE | c.MQOO_FAIL_IF_QUIESCING)
        self._note_loss()
        return queue

    def _inquiry(self) -> Any:
        c = self.connection.mq.CMQC
        queue = self.connection.queue(self.queue_name, c.MQOO_INQUIRE | c.MQOO_FAIL_IF_QUIESCING)
        self._note_loss()
        return queue

    def _note_loss(self) -> None:
        """After a reconnect, the gets made on the old connection were backed out by the queue manager."""
        if self._unit and self._unit_generation != self.connection.generation:
            self._unit.clear()
            self._lost = True

    def get(self, wait_s: float = 0.0, max_bytes: int | None = None) -> MqMessage | None:
        mq = self.connection.mq
        c = mq.CMQC
        try:
            queue = self._input()
        except InputInUse:
            self.in_use.refused()
            return None
        self.in_use.taken()
        options = c.MQGMO_SYNCPOINT | c.MQGMO_WAIT | c.MQGMO_FAIL_IF_QUIESCING | c.MQGMO_NO_PROPERTIES
        md = mq.MD()
        if self.convert:
            options |= c.MQGMO_CONVERT
            md.CodedCharSetId = 1208
        gmo = mq.GMO(Options=options, WaitInterval=max(0, int(wait_s * 1000)))
        try:
            body = queue.get(max_bytes, md, gmo)
        except mq.MQMIError as error:
            if int(error.reason) == MQRC_NO_MSG_AVAILABLE:
                return None
            if int(error.reason) == MQRC_TRUNCATED_MSG_FAILED and max_bytes is not None:
                raise TooLarge(int(getattr(error, "original_length", max_bytes + 1)), max_bytes) from None
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
            return int(self._inquiry().inquire(mq.CMQC.MQIA_CURRENT_Q_DEPTH))
        except mq.MQMIError as error:
            raise self.connection.failed(error, f"MQINQ {self.queue_name}") from error

    def close(self) -> None:
        """Back out any open unit of work, then MQCLOSE and MQDISC (releasing the exclusive input)."""
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
