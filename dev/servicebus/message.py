"""A message as the local Service Bus endpoint stores it: the sender's sections, kept byte for byte.

AMQP 1.0 §3.2 makes the bare message (properties, application-properties, body, footer) immutable
between sender and receiver; the broker owns the header and the message annotations. So the stored
message keeps the bare message as received and rebuilds only those two sections on every delivery:
``delivery-count`` in the header, and the annotations the SDK reads (``x-opt-sequence-number``,
``x-opt-enqueued-time``, ``x-opt-locked-until``, ``x-opt-lock-token``, ``x-opt-deadletter-source``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace

from dev.servicebus import amqp


@dataclass
class StoredMessage:
    payload: bytes  # the message as the sender encoded it
    message_id: str | None
    session_id: str | None
    bare: list[amqp.Section]  # properties, application-properties, body, footer
    annotations: tuple[int, bytes]  # the sender's own message-annotation entries
    durable: bool
    ttl: int | None
    seq: int = 0
    enqueued_ms: int = 0
    delivery_count: int = 0
    state: str = "active"  # active | deferred | scheduled
    scheduled_ms: int | None = None
    lock_token: uuid.UUID | None = None
    locked_until_ms: int = 0
    holder: object | None = None
    extra_properties: list[tuple[str, str]] = field(default_factory=list)
    dead_letter_source: str | None = None
    requested_schedule_ms: int | None = None  # x-opt-scheduled-enqueue-time set by the sender

    @classmethod
    def parse(cls, payload: bytes) -> StoredMessage:
        sections = amqp.split_sections(payload)
        by_code = {s.code: s for s in sections}
        message_id = session_id = None
        if amqp.PROPERTIES in by_code:
            props = amqp.section_value(by_code[amqp.PROPERTIES])
            props = list(props) + [None] * (13 - len(props))
            message_id, session_id = amqp.text(props[0]), amqp.text(props[10])
        durable, ttl = False, None
        if amqp.HEADER in by_code:
            header = list(amqp.section_value(by_code[amqp.HEADER])) + [None] * 5
            durable, ttl = bool(header[0]), header[2]
        bare = [s for s in sections if s.code >= amqp.PROPERTIES]
        schedule = None
        if amqp.MESSAGE_ANNOTATIONS in by_code:
            annotations = amqp.section_value(by_code[amqp.MESSAGE_ANNOTATIONS]) or {}
            schedule = annotations.get(b"x-opt-scheduled-enqueue-time")
        return cls(
            payload=payload,
            message_id=message_id,
            session_id=session_id,
            bare=bare,
            annotations=amqp.map_entries(by_code.get(amqp.MESSAGE_ANNOTATIONS)),
            durable=durable,
            ttl=ttl,
            requested_schedule_ms=int(schedule) if schedule is not None else None,
        )

    def available(self, now_ms: int) -> bool:
        if self.lock_token is not None:
            return False
        if self.state == "scheduled":
            return self.scheduled_ms is not None and self.scheduled_ms <= now_ms
        return self.state == "active"

    def dead_lettered(self, seq: int, reason: str, description: str, source: str) -> StoredMessage:
        """The copy that goes to the dead-letter queue (reason and description as application properties)."""
        return replace(
            self,
            seq=seq,
            state="active",
            scheduled_ms=None,
            lock_token=None,
            locked_until_ms=0,
            holder=None,
            extra_properties=[("DeadLetterReason", reason), ("DeadLetterErrorDescription", description)],
            dead_letter_source=source,
        )

    def encode(self, with_lock: bool = True) -> bytes:
        """The message as delivered: broker header and annotations, then the sender's bare message."""
        pairs: list[tuple[object, object]] = [
            (amqp.sym("x-opt-sequence-number"), amqp.long(self.seq)),
            (amqp.sym("x-opt-enqueued-time"), amqp.timestamp(self.enqueued_ms)),
        ]
        if with_lock and self.lock_token is not None:
            pairs.append((amqp.sym("x-opt-locked-until"), amqp.timestamp(self.locked_until_ms)))
            pairs.append((amqp.sym("x-opt-lock-token"), amqp.uuid_value(self.lock_token)))
        if self.dead_letter_source:
            pairs.append((amqp.sym("x-opt-deadletter-source"), amqp.string(self.dead_letter_source)))
        count, entries = self.annotations
        out = bytearray(amqp.header_section(self.durable, self.ttl, self.delivery_count))
        out += amqp.map_section(
            amqp.MESSAGE_ANNOTATIONS, count + 2 * len(pairs), amqp.encode_pairs(pairs) + entries
        )
        has_app_properties = any(s.code == amqp.APP_PROPERTIES for s in self.bare)
        for section in self.bare:
            if self.extra_properties and not has_app_properties and section.code >= amqp.DATA:
                out += amqp.app_properties_section([(k, amqp.string(v)) for k, v in self.extra_properties])
                has_app_properties = True
            if section.code == amqp.APP_PROPERTIES and self.extra_properties:
                count, entries = amqp.map_entries(section)
                extra = amqp.encode_pairs(
                    [(amqp.string(k), amqp.string(v)) for k, v in self.extra_properties]
                )
                out += amqp.map_section(
                    amqp.APP_PROPERTIES, count + 2 * len(self.extra_properties), entries + extra
                )
            else:
                out += section.raw
        return bytes(out)
