"""The WAL segment format (shared/wal_segment.py): layout, decoding, and every damage it detects.

Expected values are computed here from the inputs and the documented layout (magic, 8-byte big-endian
index length, UTF-8 JSON index, bodies in order), never taken from the encoder's own answers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from shared.model import segment_name
from shared.wal_segment import (
    HEADER,
    MAGIC,
    MAX_INDEX,
    SegmentInput,
    UnreadableWalEntry,
    checked_body,
    decode_index,
    encode,
    index_end,
    info_from_metadata,
    info_metadata,
)

AT = datetime(2026, 12, 3, 15, 0, 0, 123456, tzinfo=UTC)
NAME = segment_name(7, 1000, "DC04", "a1b2c3")
BODIES = [b"<Document>eins</Document>", b"", "<Document>Zürich</Document>".encode(), b"\x00\xff" * 50]
SESSIONS = ["CH93 0076 2011 6238 5295 7", "Zürich 100% Konto", "CH93-A", "CH93-A"]


def _inputs() -> list[SegmentInput]:
    return [SegmentInput(f"{n:048x}", SESSIONS[n], 1000 + n, AT, body) for n, body in enumerate(BODIES)]


def _encoded() -> bytes:
    return encode(NAME, "DC04", 7, AT, _inputs())[1]


def test_the_layout_is_magic_length_index_then_the_bodies_in_order() -> None:
    data = _encoded()
    assert data[:16] == b"BRIDGE-WALSEG\x00v1" and HEADER == 24
    length = int.from_bytes(data[16:24], "big")
    index = json.loads(data[24 : 24 + length].decode("utf-8"))
    assert (index["name"], index["region"], index["epoch"], index["format"]) == (NAME, "DC04", 7, 1)
    assert data[24 + length :] == b"".join(BODIES)
    assert [r["session_id"] for r in index["records"]] == SESSIONS  # UTF-8, not escaped away
    assert [r["sha256"] for r in index["records"]] == [hashlib.sha256(b).hexdigest() for b in BODIES]


def test_decoding_gives_each_record_its_absolute_range_and_the_segment_info() -> None:
    segment, data = encode(NAME, "DC04", 7, AT, _inputs())
    start = 24 + int.from_bytes(data[16:24], "big")
    offsets = [start + sum(len(b) for b in BODIES[:n]) for n in range(len(BODIES))]
    assert [(e.offset, e.size) for e in segment.entries] == [
        (o, len(b)) for o, b in zip(offsets, BODIES, strict=True)
    ]
    assert [data[e.offset : e.offset + e.size] for e in segment.entries] == BODIES
    assert [(e.message_id, e.sequence, e.epoch, e.region, e.segment) for e in segment.entries] == [
        (f"{n:048x}", 1000 + n, 7, "DC04", NAME) for n in range(len(BODIES))
    ]
    info = segment.info
    assert (info.first_sequence, info.last_sequence, info.count) == (1000, 1003, 4)
    assert (info.size, info.index_end, info.written_at) == (len(data), start, AT)
    assert decode_index(NAME, data[:start]) == segment  # the head alone is enough
    assert decode_index(NAME, data, len(data)) == segment
    assert index_end(NAME, data[:HEADER]) == start


def test_a_segment_holds_at_least_one_message() -> None:
    with pytest.raises(ValueError, match="at least one"):
        encode(NAME, "DC04", 7, AT, [])


@pytest.mark.parametrize(
    ("damage", "complaint"),
    [
        (lambda d: b"NOT-A-SEGMENT!!!" + d[16:], "no WAL segment header"),
        (lambda d: d[:20], "no WAL segment header"),  # shorter than the header
        (lambda d: d[:16] + (MAX_INDEX + 1).to_bytes(8, "big") + d[24:], "exceeds"),
        (lambda d: d[:60], "index truncated"),
        (lambda d: d[:24] + b"[" + d[25:], "malformed index"),  # not JSON any more
    ],
)
def test_damage_to_the_head_is_unreadable(damage: object, complaint: str) -> None:
    with pytest.raises(UnreadableWalEntry, match=complaint) as caught:
        decode_index(NAME, damage(_encoded()))  # type: ignore[operator]
    assert caught.value.name == NAME and caught.value.reason == "wal-entry-unreadable"


def test_an_index_naming_another_segment_or_listing_nothing_is_unreadable() -> None:
    data = _encoded()
    with pytest.raises(UnreadableWalEntry, match="index names"):
        decode_index(segment_name(7, 1000, "DC04", "other"), data)
    empty = json.dumps(
        {"format": 1, "name": NAME, "region": "DC04", "epoch": 7, "written_at": AT.isoformat(), "records": []}
    ).encode()
    with pytest.raises(UnreadableWalEntry, match="no record"):
        decode_index(NAME, MAGIC + len(empty).to_bytes(8, "big") + empty)


def test_a_blob_longer_or_shorter_than_its_index_describes_is_unreadable() -> None:
    data = _encoded()
    for size in (len(data) - 1, len(data) + 1):
        with pytest.raises(UnreadableWalEntry, match="its index describes"):
            decode_index(NAME, data, size)


def test_a_body_is_checked_against_its_size_and_hash() -> None:
    segment, data = encode(NAME, "DC04", 7, AT, _inputs())
    entry = segment.entries[2]
    assert checked_body(entry.locator, data[entry.offset : entry.offset + entry.size]) == BODIES[2]
    with pytest.raises(UnreadableWalEntry, match="do not match their SHA-256"):
        checked_body(entry.locator, BODIES[0])
    with pytest.raises(UnreadableWalEntry):
        checked_body(replace(entry.locator, sha256=hashlib.sha256(b"x").hexdigest()), BODIES[2])


def test_the_blob_metadata_round_trips_and_is_ascii() -> None:
    segment, _ = encode(NAME, "DC04", 7, AT, _inputs())
    metadata = info_metadata(segment.info)
    assert all(value.isascii() for value in metadata.values())
    assert info_from_metadata(NAME, metadata) == segment.info
    # Azure may hand metadata keys back in another case.
    assert info_from_metadata(NAME, {k.upper(): v for k, v in metadata.items()}) == segment.info


@pytest.mark.parametrize(
    ("key", "value", "complaint"), [("count", None, "'count' missing"), ("epoch", "seven", "malformed")]
)
def test_metadata_that_is_missing_or_malformed_is_unreadable(
    key: str, value: str | None, complaint: str
) -> None:
    metadata = info_metadata(encode(NAME, "DC04", 7, AT, _inputs())[0].info)
    if value is None:
        del metadata[key]
    else:
        metadata[key] = value
    with pytest.raises(UnreadableWalEntry, match=complaint):
        info_from_metadata(NAME, metadata)
