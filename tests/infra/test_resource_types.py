"""Every resource's type, API version and property names (nested) exist in the Bicep compiler's type
library, the vendored Azure/bicep-types-az subset in tests/infra/types/ (tests/infra/typecheck.py).

This is the check ``az bicep build`` makes first, run without a compiler; the planted misspellings
below prove it fails where the compiler would.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.infra.bicep import INFRA, bicep_files, parse_bicep
from tests.infra.typecheck import TYPES, check_template
from tests.infra.types.vendor import used_types

TEMPLATES = bicep_files()


def _id(path: Path) -> str:
    return str(path.relative_to(INFRA))


@pytest.mark.parametrize("path", TEMPLATES, ids=_id)
def test_every_resource_matches_the_compiler_type_library(path: Path) -> None:
    findings = check_template(parse_bicep(path), _id(path))
    assert not findings, "\n".join(findings)


def test_the_vendored_subset_is_exactly_the_types_the_templates_use() -> None:
    index = json.loads((TYPES / "index.json").read_text())["resources"]
    assert set(index) == {f"{kind}@{version}" for kind, version in used_types()}
    for ref in index.values():
        assert (TYPES / ref.partition("#/")[0]).is_file(), ref


def test_the_vendored_data_names_its_source_commit_and_licence() -> None:
    commit = json.loads((TYPES / "index.json").read_text())["commit"]
    provenance = (TYPES / "PROVENANCE.md").read_text()
    assert re.fullmatch(r"[0-9a-f]{40}", commit) and commit in provenance
    assert "https://github.com/Azure/bicep-types-az" in provenance
    assert (TYPES / "LICENSE").read_text().lstrip().startswith("MIT License")
    graph = json.loads((TYPES / "index.json").read_text())["graph_commit"]
    assert re.fullmatch(r"[0-9a-f]{40}", graph) and f"commit `{graph}`" in provenance
    assert "https://github.com/microsoftgraph/msgraph-bicep-types" in provenance


PLANTED = [
    # (template, original text, misspelt text, what the finding must name)
    ("modules/cosmos.bicep", "enableAutomaticFailover:", "enableAutomaticFailovr:", "enableAutomaticFailovr"),
    ("modules/cosmos.bicep", "        kind: 'Hash'", "        kinds: 'Hash'", "partitionKey.kinds"),
    (
        "modules/function-app.bicep",
        "instanceMemoryMB: instanceMemoryMB",
        "instanceMemoryMb: instanceMemoryMB",
        "instanceMemoryMb",
    ),
    (
        "modules/alerts.bicep",
        "minFailingPeriodsToAlert: 1",
        "minFailingPeriodToAlert: 1",
        "minFailingPeriodToAlert",
    ),
    ("modules/servicebus-namespace.bicep", "name: 'Premium'", "name: 'Premiun'", "'Premiun'"),
    (
        "modules/network.bicep",
        "virtualNetworks@2024-05-01' = {",
        "virtualNetworks@2024-05-02' = {",
        "2024-05-02",
    ),
    ("modules/keyvault.bicep", "    tenantId: subscription().tenantId\n", "", "required property tenantId"),
    (
        "modules/host-storage.bicep",
        "    supportsHttpsTrafficOnly: true",
        "    primaryLocation: 'westus2'",
        "primaryLocation: read-only",
    ),
    (
        "modules/keyvault.bicep",
        "enableRbacAuthorization: true",
        "enableRbacAuthorization: 'true'",
        "enableRbacAuthorization",
    ),
]


@pytest.mark.parametrize(("template", "original", "planted", "named"), PLANTED, ids=[p[3] for p in PLANTED])
def test_a_planted_mistake_is_caught(
    tmp_path: Path, template: str, original: str, planted: str, named: str
) -> None:
    text = (INFRA / template).read_text()
    assert text.count(original) >= 1, f"{template} no longer contains {original!r}: update the plant"
    mutated = tmp_path / Path(template).name
    mutated.write_text(text.replace(original, planted, 1))
    findings = check_template(parse_bicep(mutated), template)
    assert any(named in finding for finding in findings), findings
