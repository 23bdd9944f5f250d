"""The WAL segment format: one blob per MQ unit of work, written whole or not at all.

Layout (all offsets absolute, in bytes)::

    0   16  magic  b"BRIDGE-WALSEG\\x00v1"
    16   8  index length L (unsigned, big-endian)
    24   L  index: UTF-8 JSON (RFC 8259), see below
    24+L    bodies, one after the other, in index order

The index names the segment (``name``, ``region``, ``epoch``, ``written_at``) and lists each record:
``message_id``, ``session_id``, ``sequence``, ``ingested_at``, ``offset`` (absolute), ``size`` and the
body's ``sha256`` (FIPS 180-4, hex). A reader needs the first ``24 + L`` bytes to know every record, and
then one ranged read (Blob REST "Get Blob", ``x-ms-range``) per body; the hash in the index detects a
damaged or foreign body. The same values travel as blob metadata (:func:`info_metadata`), so a listing
knows each segment's epoch, sequences, count and index length without reading it.

Pure functions, no I/O: the Blob adapter and the in-memory twin share them, so both raise
:class:`UnreadableWalEntry` for the same damage.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.errors import PermanentError
from shared.model import SegmentInfo, WalEntry, WalLocator, WalSegment

MAGIC = b"BRIDGE-WALSEG\x00v1"
HEADER = len(MAGIC) + 8
#: The most index bytes a reader accepts (a unit of work of a few thousand records fits easily).
MAX_INDEX = 16 * 1024 * 1024


class UnreadableWalEntry(PermanentError):
    """A WAL segment or record that is not what the bridge wrote (foreign blob, damage, wrong hash).
    ``name`` (the segment) lets a replay report it and continue after it."""

    reason = "wal-entry-unreadable"

    def __init__(self, name: str, detail: str) -> None:
        super().__init__(f"WAL segment {name!r} is unreadable: {detail}")
        self.name = name


@dataclass(frozen=True)
class SegmentInput:
    """One message of a unit of work, before it is laid out in a segment."""

    message_id: str
    session_id: str
    sequence: int
    ingested_at: datetime
    body: bytes


def encode(
    name: str, region: str, epoch: int, written_at: datetime, inputs: Sequence[SegmentInput]
) -> tuple[WalSegment, bytes]:
    """Lay ``inputs`` (in ingest order, at least one) out as one segment; return it and its bytes."""
    if not inputs:
        raise ValueError("a WAL segment holds at least one message")
    relative, records = 0, []
    for item in inputs:
        records.append(
            {
                "message_id": item.message_id,
                "session_id": item.session_id,
                "sequence": item.sequence,
                "ingested_at": item.ingested_at.isoformat(),
                "at": relative,
                "size": len(item.body),
                "sha256": hashlib.sha256(item.body).hexdigest(),
            }
        )
        relative += len(item.body)
    index = {
        "format": 1,
        "name": name,
        "region": region,
        "epoch": epoch,
        "written_at": written_at.isoformat(),
        "records": records,
    }
    index_bytes = json.dumps(index, separators=(",", ":"), ensure_ascii=False).encode()
    data = b"".join([MAGIC, len(index_bytes).to_bytes(8, "big"), index_bytes, *(i.body for i in inputs)])
    return decode_index(name, data), data


def index_end(name: str, head: bytes) -> int:
    """Where the bodies start, from the segment's first :data:`HEADER` bytes."""
    if len(head) < HEADER or head[: len(MAGIC)] != MAGIC:
        raise UnreadableWalEntry(name, "no WAL segment header")
    length = int.from_bytes(head[len(MAGIC) : HEADER], "big")
    if length > MAX_INDEX:
        raise UnreadableWalEntry(name, f"index of {length} bytes exceeds {MAX_INDEX}")
    return HEADER + length


def decode_index(name: str, head: bytes, size: int | None = None) -> WalSegment:
    """The segment whose first bytes are ``head`` (at least up to :func:`index_end`).

    ``size`` is the blob's length when known (checked against the records). Raises
    :class:`UnreadableWalEntry` for anything the bridge did not write.
    """
    end = index_end(name, head)
    if len(head) < end:
        raise UnreadableWalEntry(name, f"index truncated at {len(head)} of {end} bytes")
    try:
        index = json.loads(head[HEADER:end])
        region, epoch = str(index["region"]), int(index["epoch"])
        if index.get("name") != name:
            raise UnreadableWalEntry(name, f"index names {index.get('name')!r}")
        entries = tuple(_entry(name, region, epoch, end, record) for record in index["records"])
        written_at = datetime.fromisoformat(index["written_at"])
    except (KeyError, TypeError, ValueError) as error:
        raise UnreadableWalEntry(name, f"malformed index: {error!r}") from error
    if not entries:
        raise UnreadableWalEntry(name, "index lists no record")
    total = end + sum(e.size for e in entries)
    if size is not None and size != total:
        raise UnreadableWalEntry(name, f"blob has {size} bytes, its index describes {total}")
    info = SegmentInfo(
        name=name,
        region=region,
        epoch=epoch,
        first_sequence=entries[0].sequence,
        last_sequence=entries[-1].sequence,
        count=len(entries),
        size=total,
        index_end=end,
        written_at=written_at,
    )
    return WalSegment(info, entries)


def _entry(name: str, region: str, epoch: int, start: int, record: Mapping[str, Any]) -> WalEntry:
    return WalEntry(
        segment=name,
        offset=start + int(record["at"]),
        size=int(record["size"]),
        sha256=str(record["sha256"]),
        message_id=str(record["message_id"]),
        session_id=str(record["session_id"]),
        epoch=epoch,
        sequence=int(record["sequence"]),
        region=region,
        ingested_at=datetime.fromisoformat(record["ingested_at"]),
    )


def checked_body(locator: WalLocator, body: bytes) -> bytes:
    """``body`` if it is what ``locator`` describes (size and SHA-256), else :class:`UnreadableWalEntry`."""
    if len(body) != locator.size or hashlib.sha256(body).hexdigest() != locator.sha256:
        raise UnreadableWalEntry(
            locator.segment, f"the {locator.size} bytes at offset {locator.offset} do not match their SHA-256"
        )
    return body


def info_metadata(info: SegmentInfo) -> dict[str, str]:
    """The blob metadata of a segment (ASCII only: names are ASCII by construction)."""
    return {
        "format": "1",
        "region": info.region,
        "epoch": str(info.epoch),
        "first_sequence": str(info.first_sequence),
        "last_sequence": str(info.last_sequence),
        "count": str(info.count),
        "size": str(info.size),
        "index_end": str(info.index_end),
        "written_at": info.written_at.isoformat(),
    }


def info_from_metadata(name: str, metadata: Mapping[str, str]) -> SegmentInfo:
    """Rebuild :func:`info_metadata`'s values; :class:`UnreadableWalEntry` if they are not there."""
    md = {key.lower(): value for key, value in metadata.items()}
    try:
        return SegmentInfo(
            name=name,
            region=md["region"],
            epoch=int(md["epoch"]),
            first_sequence=int(md["first_sequence"]),
            last_sequence=int(md["last_sequence"]),
            count=int(md["count"]),
            size=int(md["size"]),
            index_end=int(md["index_end"]),
            written_at=datetime.fromisoformat(md["written_at"]),
        )
    except KeyError as error:
        raise UnreadableWalEntry(name, f"metadata {error.args[0]!r} missing") from error
    except ValueError as error:
        raise UnreadableWalEntry(name, f"malformed metadata: {error}") from error
