"""Region loss in CI (issue #14): all of DC04 dies mid-stream at once (app, Blob account, Service Bus
namespace, Redis, Cosmos write region) on the deployed topology; DC06 takes over with its own
namespace and its own WAL copy once the modelled Cosmos failover has restored writes; DC04's region
returns later and its app comes back passive. Nothing lost, duplicated or reordered, never two active.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.drill.scenario import run_scenario


def test_region_loss_keeps_every_promise(drill: Callable[..., dict[str, Any]], tmp_path: Path) -> None:
    report = run_scenario(drill, "region-loss", tmp_path)
    assert report["by_region"].get("DC04", 0) > 0 and report["by_region"].get("DC06", 0) > 0
    timings = report["modelled_timings"]
    assert timings["cosmos_write_region"] == "DC06"  # the modelled service-managed failover happened
    # DC06 cannot write a claim before Cosmos's failover: recovery includes it.
    assert report["rto_s"] is not None and report["rto_s"] >= timings["cosmos_service_managed_failover_s"]
    assert report["dead_lettered"] == 0
