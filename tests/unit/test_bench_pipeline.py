"""bench.pipeline's harness: the driver runs inside the baseline tree, so it must not import ``bench``
(the baseline has no ``bench.pipeline_driver``), and the report's ratios, medians and table say what
was measured. The figures themselves are the benchmark's (docs/benchmarks.md), never asserted here;
the expected values below are worked by hand from the inputs."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from bench.pipeline import DRIVER, plan, ratio_table, ratios, table


def test_the_driver_imports_nothing_of_bench() -> None:
    tree = ast.parse(Path(DRIVER).read_text())
    imported = {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported and not {name for name in imported if name.split(".")[0] == "bench"}
    assert {"dev.stack", "dev.host", "dev.settings"} <= imported


def _result(rate: float, cpu: dict[str, float] | None = None, **more: Any) -> dict[str, Any]:
    return {"rate_per_s": rate, "busy_rate_per_s": rate + 1, "cpu_ms_per_statement": cpu or {}, **more}


def test_each_ratio_is_taken_within_a_round_and_its_median_reported() -> None:
    results = {
        # round 1: 150/50 = 3.0; round 2: 120/60 = 2.0; round 3: 100/25 = 4.0 -> median 3.0
        "ingest@baseline": [_result(50.0), _result(60.0), _result(25.0)],
        "ingest@current": [_result(150.0), _result(120.0), _result(100.0)],
        "e2e-1@baseline": [_result(40.0), _result(40.0)],
        "e2e-1@current": [_result(40.0), _result(20.0)],
    }
    found = ratios(results)
    ingest, e2e_1, e2e_2, steady = found.values()
    assert ingest == {"per_round": [3.0, 2.0, 4.0], "median": 3.0, "target": 3.0}
    assert e2e_1 == {"per_round": [1.0, 0.5], "median": 0.75, "target": None}  # even count: the mean of two
    assert e2e_2 == {"per_round": [], "median": None, "target": 2.0}  # no 2-process run
    assert steady == {"per_round": [], "median": None, "target": None}
    results["e2e-2@current"] = [_result(80.0), _result(100.0)]
    assert ratios(results)["end to end, runner in 2 processes current / runner in 1 process baseline"] == {
        "per_round": [2.0, 2.5],  # against the baseline's single process of the same round
        "median": 2.25,
        "target": 2.0,
    }
    lines = ratio_table(found).splitlines()
    assert len(lines) == 2 + 4
    assert lines[2] == "| ingest, current / baseline | ≥ 3× | 3.00× / 2.00× / 4.00× | 3.00× |"
    assert lines[4].endswith("| ≥ 2× | n/a | n/a |")


def test_the_table_gives_each_measurement_its_medians_and_each_process_cpu() -> None:
    text = table(
        {
            "ingest@baseline": [
                _result(50.0, {"queue_builder": 6.25, "blob-dc04": 3.0}),
                _result(40.0, {"queue_builder": 7.0, "blob-dc04": 2.0}),
                _result(70.0, {"queue_builder": 5.0, "blob-dc04": 4.0}),
            ]
        }
    )
    assert text.splitlines()[2] == (
        "| ingest | baseline | 3 | 50.0 | 50.0 / 40.0 / 70.0 | 51.0 | queue_builder: 6.25, blob-dc04: 3.00 |"
    )


def test_each_round_alternates_the_trees_and_only_a_tree_with_runner_processes_runs_two(
    tmp_path: Path,
) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    (old / "dev").mkdir(parents=True)
    (new / "dev").mkdir(parents=True)
    (old / "dev" / "settings.py").write_text("")
    (new / "dev" / "settings.py").write_text("BRIDGE_RUNNER_PROCESSES")
    steps = plan(2, {"baseline": old, "current": new}, 100, 50)
    assert [(number, name) for number, name, *_ in steps] == [
        (number, name)
        for number in (1, 2)
        for name in ("ingest@baseline", "ingest@current", "e2e-1@baseline", "e2e-1@current", "e2e-2@current")
    ]
    assert steps[-1][2:] == ("current", "e2e", 50, 2)


def test_a_ratio_pairs_the_runs_of_the_same_round_and_the_steady_one_compares_steady_rates() -> None:
    results = {
        # round 2's baseline end-to-end run is missing: round 3's current run must not meet round 1's
        "e2e-1@baseline": [
            _result(40.0, round=1, steady_rate_per_s=50.0),
            _result(30.0, round=3, steady_rate_per_s=40.0),
        ],
        "e2e-2@current": [
            _result(60.0, round=1, steady_rate_per_s=110.0),
            _result(90.0, round=2, steady_rate_per_s=99.0),
            _result(45.0, round=3, steady_rate_per_s=60.0),
        ],
    }
    found = ratios(results)
    two = found["end to end, runner in 2 processes current / runner in 1 process baseline"]
    assert two["per_round"] == [1.5, 1.5]  # 60/40 and 45/30
    steady = found[
        "end to end steady (10th-90th percentile), runner in 2 processes current / 1 process baseline"
    ]
    assert steady == {"per_round": [2.2, 1.5], "median": 1.85, "target": None}  # 110/50, 60/40
