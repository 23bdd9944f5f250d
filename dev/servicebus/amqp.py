"""AMQP 1.0 wire helpers for the local Service Bus endpoint (OASIS AMQP 1.0, parts 2 and 3).

Frames and values are encoded and decoded with the codec that ships inside ``azure-servicebus``
(``azure.servicebus._pyamqp``, pinned in requirements.txt), so the endpoint speaks exactly the dialect
the SDK does. This module adds what a broker needs and a client does not: splitting a received
message into its sections without re-encoding them (AMQP 1.0 §3.2: a bare message is immutable), and
building the delivered message with the broker's own header and message annotations.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

from azure.servicebus._pyamqp import _decode, _encode
from azure.servicebus._pyamqp.message import Header, Properties
from azure.servicebus._pyamqp.types import TYPE, VALUE, AMQPTypes

AMQP_HEADER = b"AMQP\x00\x01\x00\x00"
SASL_HEADER = b"AMQP\x03\x01\x00\x00"
FRAME_AMQP = 0
FRAME_SASL = 1
BATCH_FORMAT = 0x80013700  # Microsoft's batched-message format: each data section is one message

HEADER, DELIVERY_ANNOTATIONS, MESSAGE_ANNOTATIONS, PROPERTIES, APP_PROPERTIES = 0x70, 0x71, 0x72, 0x73, 0x74
DATA = 0x75

Typed = dict[str, Any]


def sym(value: str | bytes) -> Typed:
    return {TYPE: AMQPTypes.symbol, VALUE: value.encode() if isinstance(value, str) else value}


def string(value: str) -> Typed:
    return {TYPE: AMQPTypes.string, VALUE: value}


def long(value: int) -> Typed:
    return {TYPE: AMQPTypes.long, VALUE: value}


def int32(value: int) -> Typed:
    return {TYPE: AMQPTypes.int, VALUE: value}


def timestamp(ms: int) -> Typed:
    return {TYPE: AMQPTypes.timestamp, VALUE: ms}


def binary(value: bytes) -> Typed:
    return {TYPE: AMQPTypes.binary, VALUE: value}


def uuid_value(value: uuid.UUID) -> Typed:
    return {TYPE: AMQPTypes.uuid, VALUE: value}


def amap(pairs: list[tuple[Any, Any]]) -> Typed:
    return {TYPE: AMQPTypes.map, VALUE: pairs}


def array(element_type: str, values: list[Any]) -> Typed:
    return {TYPE: AMQPTypes.array, VALUE: [{TYPE: element_type, VALUE: v} for v in values]}


def encode_value(value: Any) -> bytes:
    out = bytearray()
    _encode.encode_value(out, value)
    return bytes(out)


def encode_frame(frame: NamedTuple | None, channel: int, frame_type: int = FRAME_AMQP) -> bytes:
    """One frame: 8-byte header (size, doff=2, type, channel) and the encoded performative."""
    if frame is None:  # an empty frame is the heartbeat (§2.4.5)
        return struct.pack(">IBBH", 8, 2, frame_type, channel)
    _, body = _encode.encode_frame(frame)
    assert body is not None
    return struct.pack(">IBBH", len(body) + 8, 2, frame_type, channel) + bytes(body)


def decode_performative(body: memoryview) -> tuple[int, list[Any]]:
    """``(descriptor code, fields)``; a transfer's payload is appended as the last field."""
    code, fields = _decode.decode_frame(body)
    return int(code), fields


def decode_value(data: bytes | memoryview) -> Any:
    buf = memoryview(data)
    _, value = _decode._DECODE_BY_CONSTRUCTOR[buf[0]](buf[1:])
    return value


def decode_message(data: bytes) -> Any:
    """The SDK's own view of a message (used for $cbs and $management requests)."""
    return _decode.decode_payload(memoryview(data))


def text(value: Any) -> str | None:
    """AMQP string/symbol/uuid/binary as ``str`` (the pyamqp decoder returns strings as bytes)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8")
    return str(value)


@dataclass(frozen=True)
class Section:
    code: int
    raw: bytes  # the whole encoded section, descriptor included


def split_sections(payload: bytes) -> list[Section]:
    """Split an encoded message into its sections without decoding their contents (§3.2)."""
    sections: list[Section] = []
    buf = memoryview(payload)
    offset = 0
    while offset < len(payload):
        if buf[offset] != 0x00:
            raise ValueError("message section is not a described type")
        rest, descriptor = _decode._DECODE_BY_CONSTRUCTOR[buf[offset + 1]](buf[offset + 2 :])
        rest, _ = _decode._DECODE_BY_CONSTRUCTOR[rest[0]](rest[1:])
        end = len(payload) - len(rest)
        sections.append(Section(int(descriptor), bytes(payload[offset:end])))
        offset = end
    return sections


def section_value(section: Section) -> Any:
    """Decode a section's described value (the part after the descriptor)."""
    buf = memoryview(section.raw)
    rest, _ = _decode._DECODE_BY_CONSTRUCTOR[buf[1]](buf[2:])
    return decode_value(rest)


def map_entries(section: Section | None) -> tuple[int, bytes]:
    """``(element count, raw encoded entries)`` of a map-valued section, for splicing."""
    if section is None:
        return 0, b""
    buf = memoryview(section.raw)
    rest, _ = _decode._DECODE_BY_CONSTRUCTOR[buf[1]](buf[2:])
    constructor = rest[0]
    if constructor == 0xC1:
        return rest[2], bytes(rest[3 : 2 + rest[1]])
    if constructor == 0xD1:
        size, count = struct.unpack(">II", rest[1:9])
        return int(count), bytes(rest[9 : 5 + size])
    if constructor == 0x40:  # null annotations
        return 0, b""
    raise ValueError(f"section {section.code:#x} is not a map")


def map_section(code: int, count: int, entries: bytes) -> bytes:
    """A described map section from raw entries (always map32: sizes are not known in advance)."""
    return bytes([0x00, 0x53, code, 0xD1]) + struct.pack(">II", len(entries) + 4, count) + entries


def encode_pairs(pairs: list[tuple[Any, Any]]) -> bytes:
    out = bytearray()
    for key, value in pairs:
        _encode.encode_value(out, key)
        _encode.encode_value(out, value)
    return bytes(out)


def header_section(durable: bool, ttl: int | None, delivery_count: int) -> bytes:
    header = Header(
        durable=durable, priority=None, ttl=ttl, first_acquirer=None, delivery_count=delivery_count
    )
    return encode_value(_encode.describe_performative(header))


def properties_section(**fields: Any) -> bytes:
    props = Properties(**{name: fields.get(name) for name in Properties._fields})
    return encode_value(_encode.describe_performative(props))


def value_section(value: Any) -> bytes:
    return encode_value({TYPE: AMQPTypes.described, VALUE: ({TYPE: AMQPTypes.ulong, VALUE: 0x77}, value)})


def app_properties_section(pairs: list[tuple[str, Any]]) -> bytes:
    return map_section(APP_PROPERTIES, len(pairs) * 2, encode_pairs([(string(k), v) for k, v in pairs]))
