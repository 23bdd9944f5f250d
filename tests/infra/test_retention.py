"""The storage and record lifetimes of docs/storage.md#retention, read from the parsed templates and the
parameter files: the lifecycle safety net never fires before the app's own retention, the Cosmos records
outlive every copy of the WAL, and the app's retention settings are the values the infrastructure uses.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.errors import ConfigurationError
from shared.retention import RetentionPolicy
from tests.infra.bicep import INFRA, module_config, parse_bicep, parse_bicepparam

SHARED = parse_bicep(INFRA / "shared.bicep")
VALUES = parse_bicepparam(INFRA / "shared.bicepparam").values
WAL = parse_bicep(INFRA / "modules" / "wal-storage.bicep")
COSMOS = parse_bicep(INFRA / "modules" / "cosmos.bicep")
REGION_FILES = [parse_bicepparam(INFRA / f"{r}.bicepparam") for r in ("dc04", "dc06")]


def _evaluate(expression: Any, names: dict[str, Any]) -> Any:
    """The value of a Bicep expression of literals, parameter/variable names, ``+`` and ``*``."""
    if isinstance(expression, str):
        return names.get(expression, expression)
    if isinstance(expression, int):
        return expression
    operator = expression["operator"]
    left, right = (_evaluate(v, names) for v in operator["operands"].values())
    return {"add": left + right, "multiply": left * right}[operator["type"]]


def _shared_names() -> dict[str, Any]:
    names = dict(VALUES)
    for variable in ("walSafetyNetDays", "recordTtlDays"):  # in declaration order
        names[variable] = _evaluate(SHARED["variables"][variable]["value"], names)
    return names


NAMES = _shared_names()
WAL_PARAMS = module_config(SHARED["modules"]["walStorage"])["params"]


def _lifecycle_rule() -> dict[str, Any]:
    policy = WAL["resources"]["lifecycle"]
    assert policy["type"] == "Microsoft.Storage/storageAccounts/managementPolicies"
    assert policy["config"]["name"] == "default"  # the only name the resource type accepts
    [rule] = policy["config"]["properties"]["policy"]["rules"]
    assert rule["enabled"] is True and rule["type"] == "Lifecycle"
    return dict(rule["definition"])


def test_the_safety_net_applies_to_the_wal_container_only() -> None:
    filters = _lifecycle_rule()["filters"]
    assert filters["prefixMatch"] == ["${walContainer}/"]  # quarantine, backups, journal: never
    assert filters["blobTypes"] == ["blockBlob"]
    assert WAL_PARAMS["walContainer"] == "walContainer"
    assert "walContainer" in WAL_PARAMS["containerNames"]


def test_the_safety_net_deletes_segments_their_versions_and_snapshots_after_the_same_days() -> None:
    actions = _lifecycle_rule()["actions"]
    for kind in ("baseBlob", "version", "snapshot"):
        assert actions[kind] == {"delete": {"daysAfterCreationGreaterThan": "safetyNetDays"}}, kind
    assert WAL_PARAMS["safetyNetDays"] == "walSafetyNetDays"


def test_versioning_and_soft_delete_are_on_so_the_net_has_versions_to_remove() -> None:
    service = WAL["resources"]["blobService"]["config"]["properties"]
    assert service["isVersioningEnabled"] is True
    assert service["deleteRetentionPolicy"] == {"enabled": True, "days": "softDeleteDays"}
    assert WAL_PARAMS["softDeleteDays"] == "walSoftDeleteDays"


def test_the_safety_net_fires_after_the_apps_audit_horizon() -> None:
    assert NAMES["walSafetyNetDays"] > VALUES["walAuditHorizonDays"]
    assert NAMES["walSafetyNetDays"] - VALUES["walAuditHorizonDays"] >= 7


def test_the_records_outlive_every_copy_of_the_wal() -> None:
    """Records live ``recordTtlSeconds`` from their last write (after the segment was written); the
    last copy of a segment is gone the soft-delete days after the safety net, plus the lifecycle run's
    delay (which can be days: at least a week of margin)."""
    ttl = COSMOS["resources"]["recordsContainer"]["config"]["properties"]["resource"]["defaultTtl"]
    assert ttl == "recordTtlSeconds"
    passed = module_config(SHARED["modules"]["cosmos"])["params"]["recordTtlSeconds"]
    ttl_days = _evaluate(passed, NAMES) / 86400
    last_copy_days = NAMES["walSafetyNetDays"] + VALUES["walSoftDeleteDays"]
    assert ttl_days - last_copy_days >= 7
    assert ttl_days * 86400 <= 2_147_483_647  # Cosmos DB's largest TTL


def test_the_control_items_never_expire() -> None:
    control = COSMOS["resources"]["controlContainer"]["config"]["properties"]["resource"]
    assert "defaultTtl" not in control  # the gate, sequences, checkpoints: overwritten in place


def test_the_queue_ttl_is_the_shared_parameter() -> None:
    params = module_config(SHARED["modules"]["serviceBusNamespaces"])["params"]
    assert params["messageTimeToLive"] == "P${serviceBusMessageTtlDays}D"


@pytest.mark.parametrize("region_file", REGION_FILES, ids=lambda f: f.path.name)
def test_the_app_retention_settings_are_the_infrastructure_values(region_file: Any) -> None:
    tuning = region_file.values["tuning"]
    assert float(tuning["SERVICE_BUS_MESSAGE_TTL_DAYS"]) == VALUES["serviceBusMessageTtlDays"]
    assert float(tuning["WAL_AUDIT_HORIZON_DAYS"]) == VALUES["walAuditHorizonDays"]
    policy = RetentionPolicy(  # refuses a horizon shorter than TTL + dead-letter window
        float(tuning["SERVICE_BUS_MESSAGE_TTL_DAYS"]),
        float(tuning["DEAD_LETTER_WINDOW_DAYS"]),
        float(tuning["WAL_AUDIT_HORIZON_DAYS"]),
    )
    assert policy.audit_horizon_days >= policy.message_ttl_days + policy.dead_letter_days


def test_a_horizon_shorter_than_ttl_plus_the_dead_letter_window_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="WAL_AUDIT_HORIZON_DAYS"):
        RetentionPolicy(14, 30, 43)
