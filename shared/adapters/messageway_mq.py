"""MessageWay over IBM MQ: one MQPUT per delivery, MsgId = the delivery key.

The MT950 payload goes to the MessageWay input queue as one persistent message under syncpoint, then
MQCMIT. MsgId is ``bytes.fromhex(delivery_key)`` (the key is 48 hex digits, exactly the 24 bytes of an
MQMD MsgId, see :func:`shared.model.delivery_key_for`), CorrelId is the original input message's MsgId
when ``metadata["message_id"]`` holds one, so an operator can trace a delivery back to its input.

:meth:`MqDeliveryTarget.was_delivered` answers ``None``: a put cannot be looked up once MessageWay has
consumed it. The runner then redelivers an in-doubt message with the same key, and MessageWay's own
duplicate check on MsgId is the backstop (an MQ queue itself keeps both copies).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from shared.adapters.mqi import IbmMqConfig, MqiConnection, connection_lost
from shared.ports import DeliveryTarget

SERVICE = "messageway"
_MSG_ID = re.compile(r"^[0-9a-fA-F]{48}$")


class MqDeliveryTarget(DeliveryTarget):
    """:class:`~shared.ports.DeliveryTarget` putting to MessageWay's queue ``queue``."""

    def __init__(self, config: IbmMqConfig, queue: str) -> None:
        self.connection = MqiConnection(config, SERVICE)
        self.queue_name = queue

    def deliver(self, delivery_key: str, payload: bytes, metadata: Mapping[str, str]) -> None:
        """MQPUT under syncpoint with MsgId = key, then MQCMIT; nothing stays uncommitted on failure.

        A connection found broken is re-established once (a repeat is harmless: same MsgId); after
        that, ``ServiceUnavailable("messageway", ...)`` and the caller retries with the same key.
        """
        if not _MSG_ID.match(delivery_key):
            raise ValueError(f"delivery key must be 48 hex digits (an MQ MsgId), got {delivery_key!r}")
        mq = self.connection.mq
        c = mq.CMQC
        correl = metadata.get("message_id", "")
        md = mq.MD(
            MsgId=bytes.fromhex(delivery_key),
            CorrelId=bytes.fromhex(correl) if _MSG_ID.match(correl) else c.MQCI_NONE,
            Format=c.MQFMT_STRING,
            CodedCharSetId=1208,
            Persistence=c.MQPER_PERSISTENT,
        )
        pmo = mq.PMO(Options=c.MQPMO_SYNCPOINT | c.MQPMO_FAIL_IF_QUIESCING)
        for attempt in (1, 2):
            queue = self.connection.queue(self.queue_name, c.MQOO_OUTPUT | c.MQOO_FAIL_IF_QUIESCING)
            qmgr = self.connection.qmgr()
            try:
                queue.put(bytes(payload), md, pmo)
                qmgr.commit()
                return
            except mq.MQMIError as error:
                failure = self.connection.failed(error, f"deliver {delivery_key} to {self.queue_name}")
                if not self.connection.connected:
                    if attempt == 1 and connection_lost(error):
                        continue  # a connection that broke since the last delivery: reconnect once
                    raise failure from error
                try:
                    qmgr.backout()
                except mq.MQMIError:
                    self.connection.drop()  # a lost connection's work is backed out by the queue manager
                raise failure from error

    def probe(self) -> str:
        """MQOPEN MessageWay's queue for output on a new handle, then MQCLOSE: the queue manager
        answers, the channel and credentials are accepted, the queue resolves and may be put to."""
        mq = self.connection.mq
        c = mq.CMQC
        try:
            queue = mq.Queue(
                self.connection.qmgr(), self.queue_name, c.MQOO_OUTPUT | c.MQOO_FAIL_IF_QUIESCING
            )
            queue.close()
        except mq.MQMIError as error:
            raise self.connection.failed(error, f"probe {self.queue_name}") from error
        return "queue opened for output"

    def was_delivered(self, delivery_key: str) -> bool | None:
        """Always ``None``: MQ cannot tell whether MessageWay already consumed a put."""
        return None

    def close(self) -> None:
        """MQCLOSE and MQDISC (nothing is ever left uncommitted between calls)."""
        self.connection.close()
