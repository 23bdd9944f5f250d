"""Write here, read both: a request made on one region is seen, and approved, on the other."""

from __future__ import annotations

import pytest

from shared.errors import PreconditionFailed
from shared.journal import BothRegionsJournal
from tests.twins.journal import InMemoryOperationsJournal


def test_writes_stay_home_and_reads_see_both() -> None:
    dc04, dc06 = InMemoryOperationsJournal(), InMemoryOperationsJournal()
    on_dc04, on_dc06 = BothRegionsJournal(dc04, dc06), BothRegionsJournal(dc06, dc04)
    etag = on_dc04.create("requests/r1", {"state": "PENDING"})
    on_dc06.put("messages/m1/r2", {"request": "r2"})
    assert dc04.names("") == ["requests/r1"] and dc06.names("") == ["messages/m1/r2"]
    assert on_dc06.read("requests/r1") == ({"state": "PENDING"}, etag)
    assert on_dc04.names("") == on_dc06.names("") == ["messages/m1/r2", "requests/r1"]
    # Approved on DC06 after a failover: the change lands where the request lives, by its ETag.
    newer = on_dc06.replace("requests/r1", {"state": "APPROVED"}, etag)
    assert dc04.read("requests/r1") == ({"state": "APPROVED"}, newer)
    with pytest.raises(PreconditionFailed):
        on_dc04.replace("requests/r1", {"state": "APPROVED", "again": True}, etag)


def test_a_peer_out_of_reach_leaves_reads_of_this_region_working() -> None:
    dc04, dc06 = InMemoryOperationsJournal(), InMemoryOperationsJournal()
    journal = BothRegionsJournal(dc04, dc06)
    journal.put("reports/latest.json", {"n": 1})
    dc06.available = False
    assert journal.names("") == ["reports/latest.json"]
    assert journal.read("reports/other.json") is None
