"""Scenario 9c in CI, on the deployed Redis topology: DC06 is active; Redis geo-replication stalls and
the operator fails back to DC04 (DC04's Watchdog route) during the stall. DC06's Redis copy keeps
saying what DC06 last saw; no second of two active regions may follow, and DC06 must read DC04 active
once replication resumes. The scenario script fails the run when the copies never disagreed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.drill.scenario import run_scenario


def test_a_stale_redis_copy_cannot_keep_dc06_active_after_a_failback(
    drill: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    report = run_scenario(drill, "replica-lag-flip", tmp_path)
    assert report["by_region"].get("DC06", 0) > 0 and report["by_region"].get("DC04", 0) > 0
    (stall,) = [note for note in report["notes"] if note.startswith("geo-replication stalled")]
    found = re.search(r"the copies differed in (\d+) samples; DC06 afterwards reads (\w+) active", stall)
    assert found, stall
    assert int(found.group(1)) > 0 and found.group(2) == "DC04"
