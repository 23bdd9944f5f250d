"""Scenario 9b in CI: DC06 reads a read-only replica of DC04's Redis and DC04's process is killed while
its Redis lives. DC06 must promote at the primary (the compare-and-set goes to DC04's Redis and
replicates back), leave its own Redis a replica, and DC04 brought back must stay passive
(docs/failover.md, "Promotion on a replica"; docs/drill.md finding 3).

The scenario script fails the run when DC06's Redis was made writable, when the two copies do not both
say DC06 is active at the end, or when DC04 came back active.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.drill.scenario import run_scenario


def test_a_replica_promotes_at_its_live_primary_and_stays_a_replica(
    drill: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    report = run_scenario(drill, "kill-active-replica", tmp_path)
    notes = report["notes"]
    assert report["by_region"].get("DC06", 0) > 0  # DC06 took over
    assert f"DC06's Redis after the promotion: slave; gate (primary / replica) {['DC06@2 / DC06@2']}" in notes
