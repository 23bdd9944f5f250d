"""Turn a received Service Bus message into an :class:`~shared.model.InboundStatement` (pure, no I/O).

Two shapes arrive here and both are read by attribute, so this module imports neither library:

* ``azure.functions.ServiceBusMessage`` (the Functions trigger): ``get_body()``, ``application_properties``
  with ``str`` keys, ``delivery_count`` as the Functions host reports it (1 on the first delivery);
* ``azure.servicebus.ServiceBusReceivedMessage`` (the SDK, used by the local two-region host): ``body``
  is an iterator of byte chunks, application property keys and string values come back as ``bytes``
  (pyamqp decodes AMQP strings to bytes), and ``delivery_count`` is the AMQP header's count of earlier
  failed attempts (0 on the first delivery, OASIS AMQP 1.0 §3.2.1; Service Bus sends DeliveryCount - 1,
  see Azure/azure-sdk-for-java PR #11845), so 1 is added.

The properties are those :class:`shared.adapters.servicebus.ServiceBusStatementPublisher` writes:
the WAL locator ``wal_name`` (segment), ``wal_offset``, ``wal_size``, ``wal_sha256``, then ``epoch``,
``sequence``, ``region`` and ``claim_check`` (the body then stays in the WAL, read by a ranged read of
the segment and checked against ``wal_sha256``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.errors import PermanentError
from shared.model import InboundStatement, OutboundStatement, WalLocator

#: Every property the publisher writes, in order; all but ``claim_check`` are required.
PROPERTY_NAMES = (
    "wal_name",
    "wal_offset",
    "wal_size",
    "wal_sha256",
    "epoch",
    "sequence",
    "region",
    "claim_check",
)
REQUIRED = PROPERTY_NAMES[:-1]
_SHA256_HEX = frozenset("0123456789abcdef")


class MalformedMessage(PermanentError):
    """A Service Bus message lacks a property the bridge writes on every message (or has a bad value)."""

    reason = "malformed-message"

    def __init__(self, message_id: str, detail: str) -> None:
        super().__init__(f"Service Bus message {message_id!r}: {detail}")
        self.message_id = message_id


def statement_properties(statement: OutboundStatement, claim_check: bool) -> dict[str, str | int | bool]:
    """The application properties of ``statement``'s message (:data:`PROPERTY_NAMES`, in order): the
    one place that says what travels, read back by :func:`to_inbound`."""
    return {
        "wal_name": statement.wal.segment,
        "wal_offset": statement.wal.offset,
        "wal_size": statement.wal.size,
        "wal_sha256": statement.wal.sha256,
        "epoch": statement.epoch,
        "sequence": statement.sequence,
        "region": statement.region,
        "claim_check": claim_check,
    }


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    return str(value)


def plain_properties(raw: Mapping[Any, Any] | None) -> dict[str, object]:
    """Application properties with ``str`` keys and ``str`` (not ``bytes``) string values."""
    result: dict[str, object] = {}
    for key, value in (raw or {}).items():
        result[_text(key)] = _text(value) if isinstance(value, bytes | bytearray | memoryview) else value
    return result


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    return _text(value).strip().lower() in {"1", "true", "yes"}


def _utc(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def to_inbound(message: Any) -> InboundStatement:
    """Read ``message`` (Functions binding or SDK message) back into the value the runner handles.

    Raises :class:`MalformedMessage` (a ``PermanentError``) when a required property is missing, not a
    number where one is expected, a negative WAL range, or a ``wal_sha256`` that is not 64 hex digits.
    """
    message_id = _text(message.message_id) if message.message_id is not None else ""
    if hasattr(message, "get_body"):  # azure.functions.ServiceBusMessage
        body = bytes(message.get_body() or b"")
        delivery_count = int(message.delivery_count or 1)
    else:  # azure.servicebus.ServiceBusReceivedMessage
        body = b"".join(bytes(chunk) for chunk in message.body)
        delivery_count = int(message.delivery_count or 0) + 1
    props = plain_properties(message.application_properties)
    missing = [name for name in REQUIRED if name not in props]
    if missing or not message.session_id:
        raise MalformedMessage(message_id, f"missing {', '.join(missing) or 'session id'}")
    claim_check = _flag(props.get("claim_check", False))
    try:
        epoch, sequence = int(str(props["epoch"])), int(str(props["sequence"]))
        offset, size = int(str(props["wal_offset"])), int(str(props["wal_size"]))
    except ValueError as error:
        raise MalformedMessage(
            message_id, f"epoch/sequence/wal_offset/wal_size are not integers: {error}"
        ) from error
    sha256 = _text(props["wal_sha256"]).lower()
    if offset < 0 or size < 0:
        raise MalformedMessage(message_id, f"negative WAL range: offset {offset}, size {size}")
    if len(sha256) != 64 or not set(sha256) <= _SHA256_HEX:
        raise MalformedMessage(message_id, "wal_sha256 is not a SHA-256 in hex (64 digits)")
    return InboundStatement(
        message_id=message_id,
        session_id=_text(message.session_id),
        body=None if claim_check else body,
        wal=WalLocator(_text(props["wal_name"]), offset, size, sha256),
        epoch=epoch,
        sequence=sequence,
        region=_text(props["region"]),
        delivery_count=delivery_count,
        enqueued_at=_utc(message.enqueued_time_utc),
        claim_check=claim_check,
    )
