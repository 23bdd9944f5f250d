"""bench.pipeline's harness: the driver runs inside the baseline tree, so it must not import ``bench``
(the baseline has no ``bench.pipeline_driver``), and the report's ratios and table say what was
measured. The figures themselves are the benchmark's (docs/benchmarks.md), never asserted here."""

from __future__ import annotations

import ast
from pathlib import Path

from bench.pipeline import DRIVER, ratios, table


def test_the_driver_imports_nothing_of_bench() -> None:
    tree = ast.parse(Path(DRIVER).read_text())
    imported = {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported and not {name for name in imported if name.split(".")[0] == "bench"}
    assert {"dev.stack", "dev.host", "dev.settings"} <= imported


def _result(rate: float, cpu: dict[str, float]) -> dict[str, object]:
    return {"rate_per_s": rate, "busy_rate_per_s": rate + 1, "cpu_ms_per_statement": cpu}


def test_ratios_compare_the_current_tree_with_the_baseline_and_say_when_one_is_missing() -> None:
    results = {
        "ingest@baseline": _result(50.0, {}),
        "ingest@current": _result(150.0, {}),
        "e2e-1@baseline": _result(40.0, {}),
        "e2e-1@current": _result(40.0, {}),
    }
    assert list(ratios(results).values()) == ["3.00x", "1.00x", "n/a"]  # no 2-process run
    results["e2e-2@current"] = _result(80.0, {})
    assert list(ratios(results).values())[2] == "2.00x"  # against the baseline's single process


def test_the_table_has_a_row_per_measurement_with_each_process_cpu() -> None:
    text = table({"ingest@baseline": _result(50.0, {"queue_builder": 6.25, "blob-dc04": 3.0})})
    assert (
        text.splitlines()[2] == "| ingest | baseline | 50.0 | 51.0 | queue_builder: 6.25, blob-dc04: 3.00 |"
    )
