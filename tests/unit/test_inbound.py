"""shared.inbound: the Service Bus properties the publisher writes are the ones the runner reads back.

The messages here are plain objects with the attributes of ``azure.servicebus.ServiceBusReceivedMessage``
as pyamqp hands them over (bytes keys and string values, 0-based delivery count); the same round trip
through the real SDK and the local endpoint is in tests/contracts/test_servicebus_publisher_contract.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.inbound import PROPERTY_NAMES, MalformedMessage, statement_properties, to_inbound
from shared.model import OutboundStatement, WalLocator

BODY = b"<Document/>"
LOCATOR = WalLocator("0000000003/000000000041-DC04-5f2c", 1207, len(BODY), hashlib.sha256(BODY).hexdigest())


@dataclass
class SdkMessage:
    body: list[bytes]
    application_properties: dict[bytes, Any]
    message_id: str | None = "m-1"
    session_id: str | None = "CH93-A"
    delivery_count: int | None = 0
    enqueued_time_utc: datetime | None = field(default_factory=lambda: datetime(2026, 12, 3, 15, tzinfo=UTC))


def _as_sdk(properties: dict[str, Any], body: bytes = BODY) -> SdkMessage:
    raw = {
        key.encode(): value.encode() if isinstance(value, str) else value for key, value in properties.items()
    }
    return SdkMessage(body=[body], application_properties=raw)


def _statement() -> OutboundStatement:
    return OutboundStatement(
        message_id="m-1", session_id="CH93-A", body=BODY, wal=LOCATOR, epoch=3, sequence=41, region="DC04"
    )


def test_the_properties_carry_the_whole_wal_locator_and_read_back_the_same() -> None:
    properties = statement_properties(_statement(), claim_check=False)
    assert list(properties) == list(PROPERTY_NAMES)
    assert (properties["wal_name"], properties["wal_offset"], properties["wal_size"]) == (
        "0000000003/000000000041-DC04-5f2c",
        1207,
        11,
    )
    inbound = to_inbound(_as_sdk(properties))
    assert inbound.wal == LOCATOR and inbound.wal_name == LOCATOR.segment
    assert (inbound.body, inbound.epoch, inbound.sequence, inbound.region) == (BODY, 3, 41, "DC04")
    assert (inbound.delivery_count, inbound.claim_check) == (1, False)


def test_a_claim_checked_message_has_no_body_but_its_locator() -> None:
    inbound = to_inbound(_as_sdk(statement_properties(_statement(), claim_check=True), body=b""))
    assert (inbound.body, inbound.claim_check, inbound.wal) == (None, True, LOCATOR)


@pytest.mark.parametrize("missing", ["wal_name", "wal_offset", "wal_size", "wal_sha256", "epoch"])
def test_a_message_without_a_locator_property_is_malformed(missing: str) -> None:
    properties = statement_properties(_statement(), claim_check=False)
    del properties[missing]
    with pytest.raises(MalformedMessage, match=f"missing {missing}") as caught:
        to_inbound(_as_sdk(properties))
    assert caught.value.reason == "malformed-message" and caught.value.message_id == "m-1"


@pytest.mark.parametrize(
    ("name", "value", "complaint"),
    [
        ("wal_offset", "twelve", "not integers"),
        ("wal_size", "1.5", "not integers"),
        ("wal_offset", -1, "negative WAL range"),
        ("wal_sha256", "ab" * 31, "not a SHA-256"),
        ("wal_sha256", "zz" * 32, "not a SHA-256"),
    ],
)
def test_a_bad_locator_value_is_malformed(name: str, value: object, complaint: str) -> None:
    properties: dict[str, Any] = dict(statement_properties(_statement(), claim_check=False))
    properties[name] = value
    with pytest.raises(MalformedMessage, match=complaint):
        to_inbound(_as_sdk(properties))


def test_an_upper_case_hash_is_read_as_the_same_hash() -> None:
    properties: dict[str, Any] = dict(statement_properties(_statement(), claim_check=False))
    properties["wal_sha256"] = LOCATOR.sha256.upper()
    assert to_inbound(_as_sdk(properties)).wal == LOCATOR
