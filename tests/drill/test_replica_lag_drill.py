"""Scenario 9 in CI: DC06, healthy, reads a Redis replica whose replication link is held for 20 s
while DC04 stays active on the primary. DC04's heartbeat expires on the stale copy; DC06's Watchdog
must say "gate copy stale" and never promote (docs/drill.md finding 3, docs/failover.md).

The scenario script itself fails the run when DC06 was unhealthy during the hold (the health guard
would then hide the decision), never judged its copy stale, or when either region's gate moved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.drill.scenario import run_scenario


def test_replica_lag_holds_because_the_copy_is_stale_not_because_dc06_is_unhealthy(
    drill: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    report = run_scenario(drill, "replica-lag", tmp_path)
    notes = report["notes"]
    assert report["by_region"] == {"DC04": 150}  # DC06 never consumed

    (hold,) = [note for note in notes if note.startswith("DC06 during the hold")]
    found = re.search(r"(\d+) status samples, healthy in (\d+); Watchdog 'gate copy stale' in (\d+)", hold)
    assert found, hold
    samples, healthy, stale = map(int, found.groups())
    assert samples >= 10 and healthy == samples and stale > 0
    assert "'promoted' in 0" in hold and hold.endswith("copies: DC04@1")
    assert report["region_counters"]["DC06"]["watchdog_gate_stale"] > 0
