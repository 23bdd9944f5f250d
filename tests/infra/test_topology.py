"""The templates implement the topology decisions (docs/deployment.md#decisions) and the re-run fixes
(docs/deployment.md#running-it-again): read from the parsed Bicep, so a change that undoes one fails
here rather than on the second deployment."""

from __future__ import annotations

from typing import Any

from shared.adapters.cosmos_store import INDEXING_POLICY
from tests.infra.bicep import INFRA, bicep_files, key, module_config, parse_bicep, parse_bicepparam

SHARED = parse_bicep(INFRA / "shared.bicep")
MAIN = parse_bicep(INFRA / "main.bicep")
SHARED_VALUES = parse_bicepparam(INFRA / "shared.bicepparam").values
MODULES = INFRA / "modules"
SERVICE_BUS_DATA_OWNER = "090c5cfd-751d-490a-894a-3ce6f1109419"


def _all_resources() -> list[tuple[str, dict[str, Any]]]:
    return [
        (str(path.relative_to(INFRA)), resource)
        for path in bicep_files()
        for resource in parse_bicep(path).get("resources", {}).values()
    ]


def _index(name: str, index: str) -> dict[str, Any]:
    return {"operator": {"type": "index_accessor", "operands": {"operand_1": name, "operand_2": index}}}


def _output_of(value: dict[str, Any]) -> tuple[Any, str]:
    """``(module reference, output name)`` of ``module.outputs.name``."""
    operands = value["operator"]["operands"]
    return operands["operand_1"], operands["operand_2"]["operator"]["operands"]["operand_2"]


def test_no_geo_dr_pairing_no_alias_and_no_custom_role() -> None:
    kinds = {resource["type"] for _, resource in _all_resources()}
    assert "Microsoft.ServiceBus/namespaces/disasterRecoveryConfigs" not in kinds
    assert "Microsoft.Authorization/roleDefinitions" not in kinds
    settings = {key(k) for k in MAIN["variables"]["appSettingsBase"]["value"]}
    assert not {s for s in settings if s.startswith("SERVICEBUS_")}


def test_each_region_uses_its_own_namespace() -> None:
    setting = MAIN["variables"]["appSettingsBase"]["value"]["ServiceBusConnection__fullyQualifiedNamespace"]
    assert setting == "${names.serviceBus}.servicebus.windows.net"
    own = MAIN["variables"]["names"]["value"]["serviceBus"]["function"]["parameters"]
    assert own["arg_2"] == "own"  # format(nameFormats.serviceBusNamespace, workload, own, suffix)


def test_the_trigger_identity_owns_its_own_queue_and_nothing_else_on_service_bus() -> None:
    roles = parse_bicep(MODULES / "servicebus-roles.bicep")
    assignments = {n: r for n, r in roles["resources"].items() if r["type"].endswith("roleAssignments")}
    assert list(assignments) == ["owner"]
    owner = assignments["owner"]["config"]
    assert owner["scope"] == "queue"
    assert roles["variables"]["serviceBusDataOwner"]["value"] == SERVICE_BUS_DATA_OWNER
    params = module_config(SHARED["modules"]["serviceBusRoles"])["params"]
    reference, output = _output_of(params["principalId"])
    assert (reference, output) == (_index("identities", "i"), "principalId")
    namespace, _ = _output_of(params["namespaceName"])
    assert namespace == _index("serviceBusNamespaces", "i")


def test_cosmos_one_write_region_strong_three_regions_service_managed_failover() -> None:
    account = parse_bicep(MODULES / "cosmos.bicep")["resources"]["account"]["config"]
    assert account["properties"]["enableMultipleWriteLocations"] is False
    assert account["properties"]["enableAutomaticFailover"] is True
    assert account["location"] == "location"  # not the failover order's first entry
    assert SHARED_VALUES["cosmosConsistency"] == "Strong"
    assert SHARED_VALUES["cosmosFailoverOrder"] == ["westus2", "westcentralus", "westus3"]
    params = module_config(SHARED["modules"]["cosmos"])["params"]
    assert params["location"] == "locationDc04"
    assert params["failoverOrder"] == "cosmosFailoverOrder"


def test_each_cosmos_container_is_declared_once_and_the_records_carry_the_live_lists_indexes() -> None:
    resources = parse_bicep(MODULES / "cosmos.bicep")["resources"]
    containers = {
        name: module_config(r)["name"]
        for name, r in resources.items()
        if r["type"] == "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers"
    }
    assert containers == {"recordsContainer": "containerName", "controlContainer": "controlContainerName"}
    records = resources["recordsContainer"]["config"]["properties"]["resource"]
    # The adapter creates local containers with INDEXING_POLICY; Azure gets the Bicep one: the same.
    assert records["indexingPolicy"] == INDEXING_POLICY
    assert [[p["path"] for p in index] for index in INDEXING_POLICY["compositeIndexes"]] == [
        ["/state", "/updatedAt"],
        ["/state", "/updatedAt"],
    ]


def test_the_redis_founder_is_resent_with_both_members_once_linked() -> None:
    value = module_config(SHARED["modules"]["redisFounder"])["params"]["groupDatabaseIds"]
    operands = value["operator"]["operands"]
    assert operands["condition"] == "redisJoinerLinked"
    assert len(operands["true_value"]) == 2 and len(operands["false_value"]) == 1
    assert (
        operands["true_value"][0] == operands["false_value"][0] == _index("redisDatabaseIds", "founderIndex")
    )


def test_one_shared_set_of_private_dns_zones() -> None:
    declared = [
        where
        for where, resource in _all_resources()
        if resource["type"] == "Microsoft.Network/privateDnsZones" and not resource["existing"]
    ]
    assert declared == ["modules/private-dns-zones.bicep"]
    assert SHARED["modules"]["privateDnsZones"]["config"]["config"]["scope"] == "sharedGroup"
    links = MAIN["modules"]["privateDnsLinks"]["config"]["config"]
    assert links["params"]["virtualNetworkIds"] == [
        {
            "operator": {
                "type": "property_accessor",
                "operands": {
                    "operand_1": "network",
                    "operand_2": {
                        "operator": {
                            "type": "property_accessor",
                            "operands": {"operand_1": "outputs", "operand_2": "id"},
                        }
                    },
                },
            }
        },
        "hubVirtualNetworkId",
    ]
    scope = links["scope"]["function"]
    assert (scope["type"], scope["parameters"]["resource_group_name"]) == (
        "resource_group",
        "resourceGroupShared",
    )


def test_one_private_endpoint_per_service_and_one_registered_for_cosmos() -> None:
    targets = {t["key"]: t for t in MAIN["variables"]["privateEndpointTargets"]["value"]}
    assert set(targets) == {"wal", "sb", "cosmos", "redis", "vault", "host-blob", "host-queue", "host-table"}
    assert targets["cosmos"]["register"] == {
        "operator": {"type": "equals", "operands": {"operand_1": "region", "operand_2": "cosmosDnsRegion"}}
    }
    assert all(t["register"] is True for k, t in targets.items() if k != "cosmos")


def test_the_cosmos_sql_and_redis_access_assignments_are_serialized() -> None:
    roles = parse_bicep(MODULES / "shared-roles.bicep")["resources"]
    for name in ("cosmosData", "redisAccessA", "redisAccessB"):
        assert {"type": "batchSize", "argument": 1} in roles[name]["decorators"], name


def test_every_log_alert_is_evaluated_from_both_regions() -> None:
    alerts = parse_bicep(MODULES / "alerts.bicep")
    rule = alerts["resources"]["logAlerts"]["config"]
    assert rule["loop_type"]["detail"]["array_name"] == "evaluations"
    count = alerts["variables"]["evaluations"]["value"]["loop_type"]["detail"]["array_name"]["function"]
    assert count["parameters"]["count"]["operator"]["type"] == "multiply"
    assert rule["config"]["location"] == {
        "operator": {
            "type": "index_accessor",
            "operands": {
                "operand_1": "locations",
                "operand_2": {
                    "operator": {
                        "type": "property_accessor",
                        "operands": {"operand_1": "evaluation", "operand_2": "evaluator"},
                    }
                },
            },
        }
    }
    assert rule["config"]["properties"]["scopes"] == [
        {
            "operator": {
                "type": "index_accessor",
                "operands": {
                    "operand_1": "workspaceIds",
                    "operand_2": {
                        "operator": {
                            "type": "property_accessor",
                            "operands": {"operand_1": "evaluation", "operand_2": "evaluator"},
                        }
                    },
                },
            }
        }
    ]
