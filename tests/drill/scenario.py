"""Running one drill scenario in CI and checking the promises every scenario must keep.

Each CI drill test runs its scenario on a private local stack (``dev.drill.matrix.execute``) and
then checks what is particular to it; the common part is here, so every test asserts the same zeros
the same way: no harness error, the scenario's own script did not fail, the report says ``ok``, and
nothing was lost, duplicated, reordered, or delivered while two regions were active.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def run_scenario(
    execute: Callable[..., dict[str, Any]], name: str, folder: Path, statements: int = 150
) -> dict[str, Any]:
    """Run scenario ``name`` with ``statements`` statements into ``folder`` by ``execute`` (the
    ``drill`` fixture: ``dev.drill.matrix.execute``); return its report."""
    lines: list[str] = []
    report: dict[str, Any] = execute([name], folder, statements=statements, progress=lines.append)
    assert "error" not in report, "\n".join([report["error"], *lines[-30:]])
    notes = report["notes"]
    assert not any(note.startswith("script failed") for note in notes), notes
    assert report["ok"], notes
    assert report["lost"] == 0, report.get("lost_ids")
    assert report["duplicates"] == 0, notes
    assert report["inversions"] == 0, notes
    assert report["seconds_two_active"] == 0, notes
    return report
