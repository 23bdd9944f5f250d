"""The import contracts (``[tool.importlinter]`` in pyproject.toml, run by ``make test``) hold on the
tree, and each fails the run when a violation is planted in a copy of it. ``function_app.py`` is a
module, which import-linter cannot take as a root package: it is checked here to import the
composition root only."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.boundary.publish import ROOT

PACKAGES = (
    "bootstrap",
    "queue_builder",
    "transformation_runner",
    "watchdog",
    "shared",
    "dev",
    "tests",
    "bench",
)
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python files of every root package and the contracts, copied once."""
    root = tmp_path_factory.mktemp("tree")
    shutil.copy(ROOT / "pyproject.toml", root)
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            target = root / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return root


def test_the_tree_keeps_every_contract(copy: Path) -> None:
    result = lint_imports(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        ("shared/errors.py", "import dev.faults", "Deployed code never imports the dev stack"),
        (
            "watchdog/replay.py",
            "from tests.twins import InMemoryGate",
            "Deployed code never imports the dev stack",
        ),
        (
            "transformation_runner/translate/errors.py",
            "import azure.functions",
            "The translator never imports Azure",
        ),
        ("queue_builder/handler.py", "import shared.adapters.servicebus", "depend on ports, not on adapters"),
        ("watchdog/controller.py", "import bootstrap", "One direction, no cycle"),
        ("shared/wal_dual.py", "from shared.adapters import blob_wal", "The shared core"),
        ("transformation_runner/handler.py", "import queue_builder.handler", "One direction, no cycle"),
    ],
)
def test_a_planted_violation_fails_the_run(copy: Path, module: str, planted: str, broken: str) -> None:
    path = copy / module
    original = path.read_text()
    path.write_text(f"{original}\n{planted}  # planted\n")
    try:
        result = lint_imports(copy)
    finally:
        path.write_text(original)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout and broken in " ".join(result.stdout.split())


def test_function_app_imports_the_composition_root_and_nothing_else() -> None:
    tree = ast.parse((ROOT / "function_app.py").read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported == {"bootstrap"}
