"""Test tiers are marked by what a test touches (tests/conftest.py), checked from the outside by
running pytest on this repository in a subprocess."""

from __future__ import annotations

import subprocess
import sys

from tests.boundary.publish import ROOT


def pytest_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_test_that_requests_the_stack_is_integration_wherever_it_sits() -> None:
    collected = pytest_run("--collect-only", "-m", "integration", "tests/contracts/test_bodies_contract.py")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    selected = [line for line in collected.stdout.splitlines() if "::" in line]
    assert selected and all("TestBlobBodyStore" in line for line in selected)  # the twin's class is not


def test_a_test_that_runs_the_drill_is_drill() -> None:
    collected = pytest_run("--collect-only", "-m", "drill", "tests/drill")
    selected = [line.split("::")[0] for line in collected.stdout.splitlines() if "::" in line]
    assert "tests/drill/test_drill.py" in selected
    assert "tests/drill/test_counting.py" not in selected  # pure counting logic: no tier of its own


def test_an_unmarked_test_that_starts_a_server_fails_and_a_marked_one_passes() -> None:
    result = pytest_run("-rA", "tests/boundary/tier_samples.py")
    assert result.returncode == 1, result.stdout
    assert "1 error" in result.stdout and "3 passed" in result.stdout
    assert "test_listens_without_the_marker starts a listening socket but is not in the integration" in (
        " ".join(result.stdout.split())
    )
