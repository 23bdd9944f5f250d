"""Scenario 9 in CI, on the deployed Redis topology: each region has its own Redis instance linked by
(modelled) active geo-replication; the link stalls for 20 s while DC04 stays active and statements
flow. DC06's copy of DC04's heartbeat and gate mirror goes stale; DC06, healthy, must not promote.
The scenario script itself fails the run when DC06 was unhealthy during the stall (the health guard
would then hide the decision), the copies never diverged, or when either region's gate moved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.drill.scenario import run_scenario


def test_a_stalled_geo_replication_does_not_promote_a_healthy_passive_region(
    drill: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    report = run_scenario(drill, "replica-lag", tmp_path)
    assert report["by_region"] == {"DC04": 150}  # DC06 never consumed
    (stall,) = [note for note in report["notes"] if note.startswith("geo-replication stalled")]
    found = re.search(r"(\d+) samples, DC06 healthy in (\d+), copies diverged in (\d+)", stall)
    assert found, stall
    samples, healthy, diverged = map(int, found.groups())
    assert samples >= 5 and healthy == samples and diverged > 0  # ~1 sample per 1-2 s over 20 s
    assert stall.endswith("gate as the regions read it: DC04@1"), stall
