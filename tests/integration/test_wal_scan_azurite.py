"""The desk's WAL window (watchdog/wal_scan.py) on the Blob adapter and Azurite: the per-epoch probes
(``list(after="{epoch:010d}~", limit=1)``) go through the adapter's folder pruning and land on the
next epoch's first segment; the window finds the same records as on the twin
(tests/unit/test_wal_scan.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from shared.adapters.blob_wal import BlobWriteAheadLog
from shared.settings import Connection
from tests.unit.test_wal_scan import T0, three_epochs
from watchdog.wal_scan import wal_window

pytestmark = pytest.mark.integration


def test_a_window_on_azurite_starts_at_the_epoch_in_force(stack: dict[str, str]) -> None:
    wal = BlobWriteAheadLog(
        Connection("WalStorageDC04", stack["STACK_BLOB_DC04"]), f"wal-{uuid.uuid4().hex[:12]}"
    )
    segments = three_epochs(wal)
    assert [s.name for s in wal.list(after="0000000001~", limit=1)] == [segments["e2h0"].name]
    assert [s.name for s in wal.list(after="0000000003~", limit=1)] == []
    since = T0 + timedelta(days=1, hours=6)  # in epoch 2, after its first segment
    found = [e.message_id for e in wal_window(wal, since, since + timedelta(days=1))]
    assert found == ["e2h1", "e3h0"]
    everything = [e.message_id for e in wal_window(wal, T0 - timedelta(days=1), T0 + timedelta(days=9))]
    assert everything == ["e1h0", "e1h1", "e2h0", "e2h1", "e3h0", "e3h1"]
