"""Scenario 9b in CI, on the deployed Redis topology: DC04's process is killed while its Redis instance
and the geo-replication link live on. DC06 must promote, what it writes must reach DC04's Redis (the
copies agree again), and DC04 brought back must read DC06 active and stay passive.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.drill.scenario import run_scenario


def test_dc06_promotes_and_the_redis_copies_converge(
    drill: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    report = run_scenario(drill, "kill-active-replica", tmp_path)
    assert report["by_region"].get("DC06", 0) > 0  # DC06 took over
    assert "after the promotion: the Redis copies agreed True; DC04 back reads DC06 active" in report["notes"]
    assert report["rto_s"] is not None and report["rto_s"] == report["failover"]["total_s"]
