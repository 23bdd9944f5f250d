"""The parameter files: one per stage and region, each setting every parameter of its template with
a value of the declared type and, where the template restricts it, an allowed value; and the two
regions differing only where a region must differ (region, role, peer, location, network)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.bicep import (
    INFRA,
    BicepParamError,
    ParamFile,
    allowed_values,
    parse_bicep,
    parse_bicepparam,
    parse_bicepparam_text,
)

DC04 = parse_bicepparam(INFRA / "dc04.bicepparam")
DC06 = parse_bicepparam(INFRA / "dc06.bicepparam")
SHARED = parse_bicepparam(INFRA / "shared.bicepparam")
ALL = [DC04, DC06, SHARED]

# The only parameters whose values may differ between the two regions, and why.
REGION_SPECIFIC = {
    "region": "the region's code",
    "peerRegion": "the other region's code",
    "location": "the Azure region",
    "role": "active or passive at deployment",
    "vnetAddressPrefix": "address spaces must not overlap (both are routed from on-prem)",
    "functionsSubnetPrefix": "inside the region's address space",
    "privateEndpointsSubnetPrefix": "inside the region's address space",
    "controlSubnetPrefix": "inside the region's address space (the control app's VNet integration)",
    "hubVirtualNetworkId": "each region peers with its own hub",
    "dnsServers": "each region uses its own DNS forwarders",
}

TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "int": int,
    "bool": bool,
    "object": dict,
    "array": list,
}


def _id(pf: ParamFile) -> str:
    return pf.path.name


def test_each_region_file_uses_the_region_template_and_the_shared_file_the_shared_one() -> None:
    assert DC04.using == INFRA / "main.bicep"
    assert DC06.using == INFRA / "main.bicep"
    assert SHARED.using == INFRA / "shared.bicep"


@pytest.mark.parametrize("pf", ALL, ids=_id)
def test_every_parameter_is_set_with_its_declared_type(pf: ParamFile) -> None:
    declared = parse_bicep(pf.using)["parameters"]
    assert set(pf.values) == set(declared), (
        f"{_id(pf)}: unset {sorted(set(declared) - set(pf.values))}, "
        f"unknown {sorted(set(pf.values) - set(declared))}"
    )
    for name, value in pf.values.items():
        expected = TYPES[declared[name]["type"]]
        assert isinstance(value, expected), f"{_id(pf)} {name}: {value!r} is not {declared[name]['type']}"
        assert not (expected is int and isinstance(value, bool)), f"{_id(pf)} {name}: bool given for int"


@pytest.mark.parametrize("pf", ALL, ids=_id)
def test_every_restricted_parameter_has_an_allowed_value(pf: ParamFile) -> None:
    declared = parse_bicep(pf.using)["parameters"]
    for name, value in pf.values.items():
        allowed = allowed_values(declared[name])
        if allowed is not None:
            assert value in allowed, f"{_id(pf)} {name}={value!r} not in {allowed}"


def test_the_regions_differ_only_in_region_specific_parameters() -> None:
    differing = {name for name in DC04.values if DC04.values[name] != DC06.values[name]}
    assert differing <= set(REGION_SPECIFIC), sorted(differing - set(REGION_SPECIFIC))


def test_the_regions_are_each_others_peers_and_start_active_passive() -> None:
    assert (DC04.values["region"], DC04.values["peerRegion"]) == ("DC04", "DC06")
    assert (DC06.values["region"], DC06.values["peerRegion"]) == ("DC06", "DC04")
    assert DC04.values["role"] == "active"
    assert DC06.values["role"] == "passive"
    assert DC04.values["location"] == SHARED.values["locationDc04"] == "westus2"
    assert DC06.values["location"] == SHARED.values["locationDc06"] == "westcentralus"


def test_values_the_stages_share_are_identical() -> None:
    common = set(SHARED.values) & set(DC04.values)
    assert {"workload", "suffix", "serviceBusQueueName", "cosmosDatabase", "resourceGroupShared"} <= common
    for name in common:
        assert SHARED.values[name] == DC04.values[name] == DC06.values[name], name


def _network(prefix: str) -> tuple[int, int]:
    address, length = prefix.split("/")
    value = 0
    for octet in address.split("."):
        value = value * 256 + int(octet)
    size = 2 ** (32 - int(length))
    assert value % size == 0, f"{prefix} is not aligned"
    return value, value + size


def _inside(inner: str, outer: str) -> bool:
    (a, b), (c, d) = _network(inner), _network(outer)
    return c <= a and b <= d


def _overlap(x: str, y: str) -> bool:
    (a, b), (c, d) = _network(x), _network(y)
    return a < d and c < b


@pytest.mark.parametrize("pf", [DC04, DC06], ids=_id)
def test_subnets_sit_inside_the_vnet_without_overlapping(pf: ParamFile) -> None:
    vnet = pf.values["vnetAddressPrefix"]
    subnets = [
        pf.values[n] for n in ("functionsSubnetPrefix", "privateEndpointsSubnetPrefix", "controlSubnetPrefix")
    ]
    assert all(_inside(subnet, vnet) for subnet in subnets)
    assert not any(_overlap(a, b) for i, a in enumerate(subnets) for b in subnets[i + 1 :])


def test_the_two_regions_address_spaces_do_not_overlap() -> None:
    assert not _overlap(DC04.values["vnetAddressPrefix"], DC06.values["vnetAddressPrefix"])


def test_names_fit_azure_limits() -> None:
    # Storage accounts: 3-24 lower-case letters and digits (st<workload>wal<region><suffix>);
    # Key Vault: at most 24 characters (kv-<workload>-<region>-<suffix>).
    values: dict[str, Any] = SHARED.values
    workload, suffix = values["workload"], values["suffix"]
    for kind in ("wal", "fn"):
        name = f"st{workload}{kind}dc04{suffix}"
        assert name.isalnum() and name.islower() and 3 <= len(name) <= 24, name
    assert len(f"kv-{workload}-dc04-{suffix}") <= 24


def test_the_naming_convention_matches_the_name_checks_above() -> None:
    formats = parse_bicep(INFRA / "naming.bicep")["variables"]["nameFormats"]["value"]
    assert formats["walStorage"] == "st{0}wal{1}{2}"
    assert formats["hostStorage"] == "st{0}fn{1}{2}"
    assert formats["keyVault"] == "kv-{0}-{1}-{2}"
    assert formats["serviceBusNamespace"] == "sb-{0}-{1}-{2}"


def test_param_files_are_plain_data() -> None:
    with pytest.raises(BicepParamError, match="literal"):
        parse_bicepparam_text("using 'main.bicep'\nparam a = resourceGroup().location\n")
    with pytest.raises(BicepParamError, match="interpolation"):
        parse_bicepparam_text("using 'main.bicep'\nparam a = 'x${y}'\n")
    with pytest.raises(BicepParamError, match="set twice"):
        parse_bicepparam_text("using 'main.bicep'\nparam a = 1\nparam a = 2\n")


def test_redis_sku_supports_active_geo_replication() -> None:
    # Azure Managed Redis: active geo-replication is available on every tier except Balanced B0 and B1.
    sku = SHARED.values["redisSku"]
    assert sku not in {"Balanced_B0", "Balanced_B1"}
    assert sku.split("_")[0] in {"Balanced", "MemoryOptimized", "ComputeOptimized", "FlashOptimized"}
