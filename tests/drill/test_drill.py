"""The short CI drill: two crash points, kill -9 of the active region, promotion, replay, poison bodies.

Runs ``python -m dev.drill``'s ``ci`` scenario (200 statements) on a private local stack it starts
itself (the drill stops and kills things and needs fresh queues and records, so it does not share the
session's stack), and asserts the promises from the outside: nothing lost, nothing delivered twice,
order kept per account, never two regions delivering at once, every bad body quarantined and FAILED.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def test_ci_drill_keeps_every_promise(drill: Callable[..., dict[str, Any]], tmp_path: Path) -> None:
    lines: list[str] = []
    report = drill(["ci"], tmp_path, progress=lines.append)

    assert "error" not in report, "\n".join([report["error"], *lines[-30:]])
    assert report["produced"] == 200
    assert report["lost"] == 0, report["lost_ids"]
    assert report["duplicates"] == 0
    assert report["inversions"] == 0
    assert report["seconds_two_active"] == 0
    assert report["quarantined"] == 3 and report["bad_failed"] == 3
    assert report["delivered_unique"] == 197
    assert report["by_region"].get("DC04", 0) > 0 and report["by_region"].get("DC06", 0) > 0
    assert report["failover"]["total_s"] is not None  # DC06 delivered after DC04 was killed
    assert json.loads((tmp_path / "report.json").read_text())["scenario"] == "ci"
    assert (tmp_path / "timeline.png").stat().st_size > 0
