"""Request/response operations: the CBS put-token and the ``<entity>/$management`` node.

Service Bus defines them in "AMQP 1.0 in Azure Service Bus: request-response-based operations"
(learn.microsoft.com/azure/service-bus-messaging/service-bus-amqp-request-response). A request carries
``operation`` in its application properties and a map body; the response carries ``statusCode`` /
``statusDescription`` (CBS: ``status-code`` / ``status-description``) and ``correlation-id`` = the
request's ``message-id``, which is how the SDK matches it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from azure.servicebus._pyamqp.types import TYPE, VALUE, AMQPTypes

from dev.servicebus import amqp
from dev.servicebus.broker import BrokerError, Queue

Response = tuple[int, str, Any]
_STATUS_BY_CONDITION = {
    "com.microsoft:message-lock-lost": 410,
    "com.microsoft:session-lock-lost": 410,
    "com.microsoft:message-not-found": 404,
    "com.microsoft:session-cannot-be-locked": 409,
    "amqp:not-allowed": 400,
    "amqp:not-implemented": 501,
}
_DISPOSITIONS = {
    b"completed": "complete",
    b"abandoned": "abandon",
    b"suspended": "dead-letter",
    b"defered": "defer",
}


def _response(request: Any, pairs: list[tuple[str, Any]], value: Any) -> bytes:
    correlation = request.properties.message_id if request.properties else None
    if isinstance(correlation, bytes):
        correlation = correlation.decode("utf-8")
    out = bytearray(amqp.properties_section(message_id=str(uuid.uuid4()), correlation_id=correlation))
    out += amqp.app_properties_section(pairs)
    out += amqp.value_section(value)
    return bytes(out)


def handle_cbs(request: Any) -> bytes:
    """Accept every put-token (the endpoint listens on loopback only)."""
    pairs = [("status-code", amqp.int32(202)), ("status-description", amqp.string("Accepted"))]
    return _response(request, pairs, None)


def handle_management(queue: Queue, request: Any, owner: object, now_ms: int) -> bytes:
    props = request.application_properties or {}
    operation = amqp.text(props.get(b"operation")) or ""
    body = request.value if isinstance(request.value, dict) else {}
    handler = _OPERATIONS.get(operation.removeprefix("com.microsoft:"))
    status, description, value, condition = 200, "OK", None, None
    try:
        if handler is None:
            raise BrokerError("amqp:not-implemented", f"operation {operation!r} is not supported locally")
        status, description, value = handler(queue, body, owner, now_ms)
    except BrokerError as error:
        status, description, condition = (
            _STATUS_BY_CONDITION.get(error.condition, 500),
            error.description,
            error.condition,
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:  # a malformed request body
        status, description, condition = 400, f"malformed {operation} request: {error}", "amqp:decode-error"
    pairs: list[tuple[str, Any]] = [
        ("statusCode", amqp.int32(status)),
        ("statusDescription", amqp.string(description)),
    ]
    if condition:
        pairs.append(("errorCondition", amqp.sym(condition)))
    return _response(request, pairs, value)


def _tokens(body: dict[bytes, Any]) -> list[uuid.UUID]:
    return [
        t if isinstance(t, uuid.UUID) else uuid.UUID(bytes=bytes(t)) for t in body.get(b"lock-tokens") or []
    ]


def _renew_lock(queue: Queue, body: dict[bytes, Any], owner: object, now: int) -> Response:
    expirations = [queue.renew_lock(token, now) for token in _tokens(body)]
    return 200, "OK", amqp.amap([(amqp.string("expirations"), amqp.array(AMQPTypes.timestamp, expirations))])


def _update_disposition(queue: Queue, body: dict[bytes, Any], owner: object, now: int) -> Response:
    status = body.get(b"disposition-status") or b""
    outcome = _DISPOSITIONS.get(status.encode() if isinstance(status, str) else bytes(status))
    if outcome is None:
        raise BrokerError("amqp:not-allowed", f"unknown disposition-status {status!r}")
    reason = amqp.text(body.get(b"deadletter-reason")) or ""
    description = amqp.text(body.get(b"deadletter-description")) or ""
    for token in _tokens(body):
        queue.settle(token, outcome, now, reason, description)
    return 200, "OK", amqp.amap([])


def _messages(found: list[Any], with_lock: bool) -> Any:
    entries = []
    for message in found:
        pairs: list[tuple[Any, Any]] = [
            (amqp.string("message"), amqp.binary(message.encode(with_lock=with_lock)))
        ]
        if with_lock and message.lock_token is not None:
            pairs.append((amqp.string("lock-token"), amqp.uuid_value(message.lock_token)))
        entries.append(amqp.amap(pairs))
    return amqp.amap([(amqp.string("messages"), {TYPE: AMQPTypes.list, VALUE: entries})])


def _peek(queue: Queue, body: dict[bytes, Any], owner: object, now: int) -> Response:
    found = queue.peek(
        int(body.get(b"from-sequence-number") or 0),
        int(body.get(b"message-count") or 1),
        amqp.text(body.get(b"session-id")),
    )
    if not found:
        return 204, "No messages", None
    return 200, "OK", _messages(found, with_lock=False)


def _receive_by_sequence(queue: Queue, body: dict[bytes, Any], owner: object, now: int) -> Response:
    found = queue.by_sequence([int(s) for s in body.get(b"sequence-numbers") or []], owner, now)
    return 200, "OK", _messages(found, with_lock=True)


def _schedule(queue: Queue, body: dict[bytes, Any], owner: object, now: int) -> Response:
    seqs = []
    for entry in body.get(b"messages") or []:
        raw = bytes(entry[b"message"])
        annotations = amqp.decode_message(raw).message_annotations or {}
        at = annotations.get(b"x-opt-scheduled-enqueue-time")
        stored = queue.enqueue(raw, now, scheduled_ms=int(at) if at is not None else None)
        seqs.append(stored.seq if stored is not None else 0)
    return 200, "OK", amqp.amap([(amqp.string("sequence-numbers"), amqp.array(AMQPTypes.long, seqs))])


def _cancel(queue: Queue, body: dict[bytes, Any], owner: object, now: int) -> Response:
    queue.cancel_scheduled([int(s) for s in body.get(b"sequence-numbers") or []])
    return 200, "OK", amqp.amap([])


def _session_id(body: dict[bytes, Any]) -> str:
    session_id = amqp.text(body.get(b"session-id"))
    if not session_id:
        raise BrokerError("amqp:not-allowed", "session-id is required")
    return session_id


def _renew_session(queue: Queue, body: dict[bytes, Any], owner: object, now: int) -> Response:
    until = queue.renew_session(_session_id(body), None, now)
    return 200, "OK", amqp.amap([(amqp.string("expiration"), amqp.timestamp(until))])


def _set_state(queue: Queue, body: dict[bytes, Any], owner: object, now: int) -> Response:
    state = body.get(b"session-state")
    queue.set_state(_session_id(body), bytes(state) if state is not None else None)
    return 200, "OK", amqp.amap([])


def _get_state(queue: Queue, body: dict[bytes, Any], owner: object, now: int) -> Response:
    session = queue.sessions.get(_session_id(body))
    state = session.state if session is not None else None
    value = amqp.binary(state) if state is not None else None
    return 200, "OK", amqp.amap([(amqp.string("session-state"), value)])


def _list_sessions(queue: Queue, body: dict[bytes, Any], owner: object, now: int) -> Response:
    ids = [s.session_id for s in queue.sessions.values() if s.messages or s.state is not None]
    return (
        200,
        "OK",
        amqp.amap(
            [
                (amqp.string("skip"), amqp.int32(0)),
                (amqp.string("sessions-ids"), amqp.array(AMQPTypes.string, ids)),
            ]
        ),
    )


_OPERATIONS: dict[str, Callable[[Queue, dict[bytes, Any], object, int], Response]] = {
    "renew-lock": _renew_lock,
    "update-disposition": _update_disposition,
    "peek-message": _peek,
    "receive-by-sequence-number": _receive_by_sequence,
    "schedule-message": _schedule,
    "cancel-scheduled-message": _cancel,
    "renew-session-lock": _renew_session,
    "set-session-state": _set_state,
    "get-session-state": _get_state,
    "get-message-sessions": _list_sessions,
}
