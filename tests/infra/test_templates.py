"""Every Bicep file parses, every reference resolves, every module call matches the module.

What `az bicep build` would catch first, checked here without a Bicep compiler (tests/infra/bicep.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.bicep import (
    INFRA,
    allowed_values,
    bicep_files,
    local_references,
    module_config,
    parse_bicep,
    required_params,
)

TEMPLATES = bicep_files()
ENTRY_POINTS = [INFRA / "shared.bicep", INFRA / "main.bicep"]
API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")


def _id(path: Path) -> str:
    return str(path.relative_to(INFRA))


def test_the_infra_folder_holds_the_two_stages_and_their_modules() -> None:
    names = {_id(p) for p in TEMPLATES}
    assert {"shared.bicep", "main.bicep", "naming.bicep"} <= names
    assert len([n for n in names if n.startswith("modules/")]) >= 10


@pytest.mark.parametrize("path", TEMPLATES, ids=_id)
def test_every_bicep_file_parses(path: Path) -> None:
    template = parse_bicep(path)
    assert template.get("globals", {}).get("scope", {}).get("value") in {"resourceGroup", "subscription"}


@pytest.mark.parametrize("path", TEMPLATES, ids=_id)
def test_every_local_reference_exists(path: Path) -> None:
    for ref in local_references(path):
        assert ref.is_file(), f"{_id(path)} refers to missing {ref}"


def test_every_module_is_used_by_an_entry_point() -> None:
    reached: set[Path] = set()
    todo = list(ENTRY_POINTS)
    while todo:
        current = todo.pop()
        if current in reached:
            continue
        reached.add(current)
        todo.extend(local_references(current))
    unused = {_id(p) for p in TEMPLATES} - {_id(p) for p in reached}
    assert not unused, f"modules nobody deploys: {sorted(unused)}"


@pytest.mark.parametrize("path", TEMPLATES, ids=_id)
def test_module_calls_pass_exactly_the_parameters_the_module_declares(path: Path) -> None:
    for name, module in parse_bicep(path).get("modules", {}).items():
        target = (path.parent / module["detail"]["path"]).resolve()
        declared = parse_bicep(target).get("parameters", {})
        passed = set(module_config(module).get("params", {}))
        unknown = passed - set(declared)
        missing = required_params(parse_bicep(target)) - passed
        assert not unknown, f"{_id(path)} module {name} passes unknown params {sorted(unknown)}"
        assert not missing, f"{_id(path)} module {name} misses required params {sorted(missing)}"


@pytest.mark.parametrize("path", TEMPLATES, ids=_id)
def test_every_resource_names_a_type_and_a_dated_api_version(path: Path) -> None:
    """ARM types carry a dated API version; Microsoft Graph types (the microsoftGraphV1 extension) the
    Graph endpoint version ``v1.0`` (never ``beta`` in production)."""
    for name, resource in parse_bicep(path).get("resources", {}).items():
        assert resource["type"].count("/") >= 1, f"{_id(path)} {name}: {resource['type']}"
        version = resource["api_version"]
        graph = resource["type"].startswith("Microsoft.Graph/") and version == "v1.0"
        assert graph or API_VERSION.match(version), f"{_id(path)} {name}: {version}"


def test_each_resource_type_uses_one_api_version_everywhere() -> None:
    seen: dict[str, set[str]] = {}
    for path in TEMPLATES:
        for resource in parse_bicep(path).get("resources", {}).values():
            seen.setdefault(resource["type"], set()).add(resource["api_version"])
    mixed = {kind: sorted(versions) for kind, versions in seen.items() if len(versions) > 1}
    assert not mixed, f"one API version per type keeps the templates reviewable: {mixed}"


def test_templates_avoid_constructs_the_ci_parser_cannot_read() -> None:
    # pycep-parser 0.7.1 reads neither user-defined functions nor union types; keep them out so CI
    # keeps parsing every file (a literal union `'a' | 'b'` is written as @allowed instead).
    for path in TEMPLATES:
        text = path.read_text()
        assert not re.search(r"^\s*func\s", text, re.MULTILINE), _id(path)
        assert not re.search(r"^\s*type\s", text, re.MULTILINE), _id(path)


@pytest.mark.parametrize("path", TEMPLATES, ids=_id)
def test_parameter_defaults_are_allowed_values(path: Path) -> None:
    for name, param in parse_bicep(path).get("parameters", {}).items():
        allowed = allowed_values(param)
        default = param.get("default")
        if allowed is not None and isinstance(default, (str, int)):
            assert default in allowed, f"{_id(path)} {name}: default {default!r} not in {allowed}"


def test_the_statement_queue_is_not_partitioned_because_batches_mix_sessions() -> None:
    """``ServiceBusStatementPublisher`` puts several sessions' messages in one batch, which only a
    non-partitioned entity accepts: neither the queue nor the Premium namespace may be partitioned."""
    namespace = (INFRA / "modules" / "servicebus-namespace.bicep").read_text("utf-8")
    assert re.search(r"^\s*enablePartitioning:\s*false\s*$", namespace, re.MULTILINE)
    assert re.search(r"^\s*premiumMessagingPartitions:\s*1\s*$", namespace, re.MULTILINE)
