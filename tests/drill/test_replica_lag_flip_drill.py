"""Scenario 9c in CI: DC06 is active and reads a read-only replica of DC04's Redis; its replication is
held and the operator fails back to DC04 (DC04's Watchdog route) during the hold. DC06's stale copy
keeps saying "DC06 is active"; its fence must refuse that copy once the lag exceeds GATE_MAX_LAG_S, and
DC04 must wait GATE_CACHE_TTL_S + GATE_MAX_LAG_S + 1 s before consuming, so no second of two active
regions (docs/failover.md, "The fence on a lagging copy"; docs/drill.md finding 3).

The scenario script fails the run when the copies never disagreed, when DC06's fence never refused its
copy, or when DC06 did not read itself passive after the link was restored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.drill.scenario import run_scenario


def test_a_stale_replica_cannot_keep_dc06_active_after_a_failback(
    drill: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    report = run_scenario(drill, "replica-lag-flip", tmp_path)
    notes = report["notes"]
    assert report["by_region"].get("DC06", 0) > 0 and report["by_region"].get("DC04", 0) > 0

    (hold,) = [note for note in notes if note.startswith("replication held")]
    found = re.search(r"the copies disagreed in (\d+) .* refused its stale copy (\d+) times", hold)
    assert found, hold
    disagreed, refused = map(int, found.groups())
    assert disagreed > 0 and refused > 0, hold
    assert report["region_counters"]["DC06"]["gate_copy_stale_refusals"] >= refused
    assert any(note.startswith("failback: rate limited") for note in notes)  # the operator forced it
