"""Desk actions beyond the routes' happy paths: crash between delivering and recording, resume under
the same key, expiry, and the status page's escaping."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

import pytest

import bootstrap
from shared.errors import ServiceUnavailable
from tests.ops.region import GOOD, UNBALANCED, call, flow, install, request, uninstall
from tests.twins import InMemoryDeliveryTarget
from watchdog.desk_blueprint import Ops
from watchdog.status_page import render

GOOD_ID, BAD_ID = "a1" * 24, "b2" * 24


class CrashAfterDelivering(InMemoryDeliveryTarget):
    """MessageWay accepts the delivery, then the process dies before it can record it."""

    crash = True

    def deliver(self, delivery_key: str, payload: bytes, metadata: Mapping[str, str]) -> None:
        super().deliver(delivery_key, payload, metadata)
        if self.crash:
            raise ServiceUnavailable("messageway", "connection reset after the put")


@pytest.fixture
def region() -> Iterator[tuple[bootstrap.Components, Ops]]:
    components, ops = install()
    flow(components, GOOD_ID, GOOD.read_bytes())
    flow(components, BAD_ID, UNBALANCED.read_bytes())
    yield components, ops
    uninstall()


def test_a_resend_interrupted_after_delivering_resumes_under_the_same_key(
    region: tuple[bootstrap.Components, Ops],
) -> None:
    components, ops = region
    target = CrashAfterDelivering()
    target.delivered.update(components.ports.target.delivered)  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    ops.desk.target, ops.desk.clock = target, lambda: now
    _, pending = ops.desk.request_resend({"message_id": GOOD_ID, "reason": "receiver lost it"}, "olga")
    with pytest.raises(ServiceUnavailable):
        ops.desk.approve({"request_id": pending["request"]}, "anna")
    request = ops.journal.read(f"requests/{pending['request']}")
    assert request is not None and request[0]["state"] == "EXECUTING"
    key = str(request[0]["delivery_key"])
    assert target.attempts[key] == 1

    status, early = ops.desk.approve({"request_id": pending["request"]}, "anna")
    assert status == 409 and "resume after 60 s" in str(early["error"])
    later = now + timedelta(seconds=61)
    ops.desk.clock, target.crash = (lambda: later), False
    status, done = ops.desk.approve({"request_id": pending["request"]}, "anna")
    assert status == 200 and done["state"] == "DONE" and done["delivery_key"] == key
    assert target.attempts[key] == 2 and len([k for k in target.delivered if k == key]) == 1


def test_a_new_resubmit_is_refused_while_one_is_executing(
    region: tuple[bootstrap.Components, Ops],
) -> None:
    _, ops = region
    ops.desk.target = CrashAfterDelivering()
    body = {"message_id": BAD_ID, "reason": "sender confirmed the CLBD", "policy": "as-sent"}
    with pytest.raises(ServiceUnavailable):
        ops.desk.resubmit(body, "olga")
    status, refused = ops.desk.resubmit(body, "olga")
    assert (
        status == 409
        and "EXECUTING" in str(refused["error"])
        and "resume it with approve" in str(refused["error"])
    )


def test_a_request_expires_after_24_hours(region: tuple[bootstrap.Components, Ops]) -> None:
    _, ops = region
    _, pending = ops.desk.request_resend({"message_id": GOOD_ID, "reason": "receiver lost it"}, "olga")
    later = datetime.now(UTC) + timedelta(hours=25)
    ops.desk.clock = lambda: later
    status, answer = ops.desk.approve({"request_id": pending["request"]}, "anna")
    assert status == 409 and "expired" in str(answer["error"])
    stored = ops.journal.read(f"requests/{pending['request']}")
    assert stored is not None and stored[0]["state"] == "EXPIRED"


def test_a_resubmit_needs_the_active_region(region: tuple[bootstrap.Components, Ops]) -> None:
    components, ops = region
    view = components.ports.mirror.read()
    assert view is not None and view.lease.active_dc == "DC04"
    moved = dataclasses.replace(view.lease, active_dc="DC06", epoch=view.lease.epoch + 1)
    components.ports.mirror.publish(dataclasses.replace(view, lease=moved))  # DC06 took the lease
    status, answer = ops.desk.resubmit({"message_id": BAD_ID, "reason": "sender fixed it"}, "olga")
    assert status == 409 and "DC04 is not active" in str(answer["error"])
    assert ops.journal.names("requests/") == []


def test_the_status_page_escapes_what_it_shows() -> None:
    hostile = '<script>alert("x")</script>'
    page = render(
        {"region": "DC04", "active_dc": hostile, "regions": {}},
        {"failed": [{"message_id": hostile, "account": "***1", "reason": hostile}], "counts": {"failed": 1}},
    )
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert 'href="trace?message_id=%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E"' in page


def test_the_route_answers_503_with_the_way_out_when_messageway_fails(
    region: tuple[bootstrap.Components, Ops],
) -> None:
    _, ops = region
    ops.desk.target = CrashAfterDelivering()
    _, pending = ops.desk.request_resend({"message_id": GOOD_ID, "reason": "receiver lost it"}, "olga")
    response = call("ops_approve", request("POST", "approve", "approver", {"request_id": pending["request"]}))
    assert response.status_code == 503  # type: ignore[attr-defined]
    assert "resumed with approve" in json.loads(response.get_body())["error"]  # type: ignore[attr-defined]


def test_a_resend_of_a_statement_no_longer_in_the_wal_is_refused_and_recorded(
    region: tuple[bootstrap.Components, Ops],
) -> None:
    components, ops = region
    record = components.ports.store.get(GOOD_ID)
    assert record is not None and record.wal_name
    components.ports.wal.delete(record.wal_name)  # retention deleted its segment (every record final)
    _, pending = ops.desk.request_resend({"message_id": GOOD_ID, "reason": "receiver lost it"}, "olga")
    status, answer = ops.desk.approve({"request_id": pending["request"]}, "anna")
    assert status == 409 and "cannot be read from the WAL" in str(answer["error"])
    stored = ops.journal.read(f"requests/{pending['request']}")
    assert stored is not None and stored[0]["state"] == "FAILED"
