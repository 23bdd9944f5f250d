"""The deployed set is exactly what it should be: the publish uploads every module the app imports,
and no dev-stack, test or benchmark module; nothing in it reads a dev-only setting or can exit the
process (``os._exit``). The list is built as ``func azure functionapp publish`` builds it
(tests/boundary/publish.py)."""

from __future__ import annotations

import ast
import re
from pathlib import PurePosixPath

from dev.settings import DEV_SETTING_NAMES
from tests.boundary.publish import ROOT, app_modules, publish_list

PUBLISHED = publish_list()
PUBLISHED_PY = sorted(name for name in PUBLISHED if name.endswith(".py"))
NEVER_DEPLOYED = {"dev", "tests", "bench", "docs", "infra", "scripts", ".ci"}


def test_the_publish_uploads_the_app_and_its_settings_files() -> None:
    assert {"function_app.py", "host.json", "requirements.txt", "bootstrap/__init__.py"} <= PUBLISHED
    assert "shared/ports.py" in PUBLISHED and "transformation_runner/translate/__init__.py" in PUBLISHED


def test_no_dev_test_or_tooling_file_is_uploaded() -> None:
    shipped = sorted(name for name in PUBLISHED if PurePosixPath(name).parts[0] in NEVER_DEPLOYED)
    assert shipped == []
    tooling = {"Makefile", "pyproject.toml", "requirements-dev.txt", "package.json", "package-lock.json"}
    assert not PUBLISHED & tooling


def test_every_module_the_app_imports_is_uploaded() -> None:
    modules = app_modules()
    # The walk reaches all three functions, their handlers, the translator and the adapters.
    assert {
        "bootstrap",
        "queue_builder.handler",
        "transformation_runner.translate",
        "watchdog.probes",
    } <= set(modules)
    assert "shared.adapters.blob_wal" in modules  # imported lazily inside a function: still counted
    missing = sorted(path for path in modules.values() if path not in PUBLISHED)
    assert missing == []
    assert not {m for m in modules if m.split(".")[0] in NEVER_DEPLOYED}


def test_no_deployed_module_reads_a_dev_only_setting_or_can_exit_the_process() -> None:
    """No string in the deployed code (a setting read, a message, a docstring) names a dev-only setting."""
    dev_only = re.compile(r"\b(" + "|".join(sorted(DEV_SETTING_NAMES)) + r")\b")
    problems = []
    for name in PUBLISHED_PY:
        for node in ast.walk(ast.parse((ROOT / name).read_text(), name)):
            if isinstance(node, ast.Attribute) and node.attr == "_exit":
                problems.append(f"{name}:{node.lineno} calls os._exit")
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                problems += [f"{name}:{node.lineno} names {m}" for m in dev_only.findall(node.value)]
    assert problems == []
