"""The status page's live lists: recent FAILED records and old PENDING claims straight from the
idempotency store (one bounded query each), on the page with links to their trace, and the page
still answering when the store does not."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import bootstrap
from shared.model import ClaimRecord, delivery_key_for
from shared.ports import IdempotencyStore
from tests.ops.region import GOOD, UNBALANCED, call, flow, install, request, uninstall
from tests.twins import InMemoryIdempotencyStore
from watchdog.desk_blueprint import Ops
from watchdog.status_page import FAILED_WINDOW, LiveLists, render

GOOD_ID, BAD_ID, CLAIMED_ID = "a1" * 24, "b2" * 24, "c3" * 24


class CountingStore(InMemoryIdempotencyStore):
    """The twin, counting the live lists' queries and the limits they asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[tuple[str, datetime, int]] = []

    def failed_since(self, since: datetime, limit: int) -> list[ClaimRecord]:
        self.queries.append(("failed_since", since, limit))
        return super().failed_since(since, limit)

    def claimed_before(self, before: datetime, limit: int) -> list[ClaimRecord]:
        self.queries.append(("claimed_before", before, limit))
        return super().claimed_before(before, limit)


def claim(store: IdempotencyStore, message_id: str) -> ClaimRecord:
    return store.claim(
        message_id=message_id,
        session_id="CH9300762011623852957",
        region="DC04",
        epoch=3,
        delivery_key=delivery_key_for(message_id),
        lease_until=datetime.now(UTC) + timedelta(seconds=60),
        wal_name=f"20261126/0000000003/000000000007-{message_id}",
        sequence=7,
    )


def test_one_bounded_query_per_list_with_the_window_and_the_threshold() -> None:
    store = CountingStore()
    for n in range(5):
        store.mark_failed(claim(store, f"f{n}"), "unbalanced", {})
    claim(store, "p1")
    claim(store, "p2")
    later = datetime.now(UTC) + timedelta(seconds=61)
    live = LiveLists(store, in_doubt_after_s=60, limit=3, clock=lambda: later)()
    assert store.queries == [
        ("failed_since", later - FAILED_WINDOW, 3),
        ("claimed_before", later - timedelta(seconds=60), 3),
    ]
    failed, in_doubt = live["failed"], live["in_doubt"]
    assert isinstance(failed, list) and isinstance(in_doubt, list)
    assert [r["message_id"] for r in failed] == ["f4", "f3", "f2"]  # newest first, at most 3
    assert [r["message_id"] for r in in_doubt] == ["p1", "p2"]  # oldest first
    assert failed[0]["reason"] == "unbalanced" and failed[0]["account"] == "*" * 17 + "2957"  # masked
    assert in_doubt[0]["epoch"] == 3 and in_doubt[0]["attempts"] == 1
    fresh = LiveLists(store, in_doubt_after_s=60)()  # claimed just now: not in doubt yet
    assert fresh["in_doubt"] == []


def test_a_store_that_cannot_answer_leaves_the_rest_of_the_page() -> None:
    store = InMemoryIdempotencyStore()
    store.available = False
    live = LiveLists(store, in_doubt_after_s=60)()
    assert isinstance(live["failed"], dict) and "cosmos" in str(live["failed"]["error"])
    page = render({"region": "DC04", "active_dc": "DC04", "epoch": 7, "regions": {}}, None, (), live)
    assert page.count('<p class="bad">unavailable: ') == 2 and "epoch <strong id='epoch'>7</strong>" in page


@pytest.fixture
def region() -> Iterator[tuple[bootstrap.Components, Ops]]:
    components, ops = install()
    flow(components, GOOD_ID, GOOD.read_bytes())
    flow(components, BAD_ID, UNBALANCED.read_bytes())
    claim(components.ports.store, CLAIMED_ID)  # a worker claimed it and stopped
    yield components, ops
    uninstall()


def test_the_page_lists_them_live_without_a_reconciliation(region: tuple[bootstrap.Components, Ops]) -> None:
    _, ops = region
    ops.live.clock = lambda: datetime.now(UTC) + timedelta(minutes=5)  # five minutes later
    response = call("ops_status_page", request("GET", "statuspage", "reader"))
    page = response.get_body().decode()  # type: ignore[attr-defined]
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert "no reconciliation" not in page and "Stuck statements (last reconciliation)" in page
    failed = _section(page, "failed")
    assert f'<a href="trace?message_id={BAD_ID}">{BAD_ID}</a>' in failed and GOOD_ID not in failed
    assert "unbalanced" in failed and "Failed statements (1)" in failed
    in_doubt = _section(page, "in-doubt")
    assert f'<a href="trace?message_id={CLAIMED_ID}">{CLAIMED_ID}</a>' in in_doubt
    assert "In-doubt statements (1)" in in_doubt and "older than 60.0 s" in in_doubt
    ops.live.clock = lambda: datetime.now(UTC)
    fresh = call("ops_status_page", request("GET", "statuspage", "reader")).get_body().decode()  # type: ignore[attr-defined]
    assert CLAIMED_ID not in _section(fresh, "in-doubt")  # claimed a moment ago: its lease runs


def _section(page: str, anchor: str) -> str:
    """The HTML from the heading with ``id=anchor`` to the next heading."""
    match = re.search(rf'<h2 id="{anchor}">.*?(?=<h2|</body>)', page, re.S)
    assert match, f"no section {anchor}"
    return match.group()
