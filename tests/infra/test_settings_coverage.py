"""Every setting the code reads is set by the template, in its Azure (identity-based) form.

The function app's settings are ``union(tuning, appSettingsBase, mqPasswordSetting)`` in main.bicep:
the fixed object ``appSettingsBase`` plus the ``tuning`` object of each region's parameter file (and
MQ_PASSWORD, a Key Vault reference, when a secret name is given). The names the code reads come from
``shared.settings.setting_names()``, the bindings' ``%Name%`` / ``connection=`` references in the
blueprints, and the few names adapters read straight from the environment.
"""

from __future__ import annotations

import ast
from dataclasses import fields
from typing import Any

import pytest

from shared.settings import Settings, setting_names
from tests.infra.bicep import (
    INFRA,
    ROOT,
    blueprint_functions,
    key,
    module_config,
    parse_bicep,
    parse_bicepparam,
)

MAIN = parse_bicep(INFRA / "main.bicep")
FUNCTION_APP = parse_bicep(INFRA / "modules" / "function-app.bicep")
REGION_FILES = [parse_bicepparam(INFRA / f"{r}.bicepparam") for r in ("dc04", "dc06")]

# Identity-based endpoint suffix each connection must use in Azure (the Functions convention).
ENDPOINT_SUFFIX = {
    "ServiceBusConnection": "fullyQualifiedNamespace",
    "WalStorageDC04": "serviceUri",
    "WalStorageDC06": "serviceUri",
    "CosmosConnection": "accountEndpoint",
    "RedisConnection": "host",
}

# Dev-stack settings (dev/settings.py, never read by the deployed code) that the template must NOT set.
NOT_SET_IN_AZURE = {
    "MQ_INBOX_DIR": "the folder inbox standing in for IBM MQ (dev stack only)",
    "MESSAGEWAY_OUTBOX_DIR": "the folder outbox standing in for MessageWay (dev stack only)",
    "CONSUMPTION_SWITCH_DIR": "the local host's flag files standing in for the runner's app setting",
    "BRIDGE_FAULTS": "crash points for drills (dev/faults.py)",
    "MQ_MODE": "gone: the deployed app always reads IBM MQ",
    "MESSAGEWAY_MODE": "gone: the deployed app always delivers by MQ put",
    "SERVICEBUS_ALIAS_NAME": "no Geo-DR alias: one namespace per region (empty = no alias failover)",
    "SERVICEBUS_NAMESPACE_DC04": "read only for the alias failover, which the topology does not have",
    "SERVICEBUS_NAMESPACE_DC06": "read only for the alias failover, which the topology does not have",
}

# Settings the template sets that settings.py does not read, and who reads them.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__accountName": "Functions host storage, identity-based",
    "AzureWebJobsStorage__credential": "Functions host storage, identity-based",
    "AzureWebJobsStorage__clientId": "Functions host storage: which user-assigned identity",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "telemetry destination (no secret: local auth is disabled)",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Entra-authenticated telemetry with the identity",
    "AZURE_CLIENT_ID": "DefaultAzureCredential picks the user-assigned identity",
    "AzureWebJobs.transformation_runner.Disabled": "the passive region's runner switch (Watchdog flips it)",
    "MQ_USER": "read by shared/adapters/ibmmq_source.ibmmq_config",
    "MQ_PASSWORD": "read by ibmmq_config; a Key Vault reference",
    "MQ_CIPHER_SPEC": "read by ibmmq_config",
    "MQ_KEY_REPOSITORY": "read by ibmmq_config",
    "PYTHON_THREADPOOL_THREAD_COUNT": "the Python worker's thread pool: one thread per runner session",
}

# App settings a Flex Consumption app must not carry (the platform owns them or rejects them).
FLEX_FORBIDDEN = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
    "AzureWebJobsStorage",
    # "Setting not valid" on Flex: one worker process per instance; the runner scales over instances
    # (https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations).
    "FUNCTIONS_WORKER_PROCESS_COUNT",
}


def _base_settings() -> dict[str, Any]:
    return {key(name): value for name, value in MAIN["variables"]["appSettingsBase"]["value"].items()}


def app_settings(region_file: Any) -> set[str]:
    operator_plane = {key(n) for n in MAIN["variables"]["operatorPlaneSettings"]["value"]}
    names = set(_base_settings()) | set(region_file.values["tuning"]) | operator_plane
    if region_file.values["mqPasswordSecretName"]:
        names.add("MQ_PASSWORD")
    return names


def _connections() -> set[str]:
    return {f.metadata["env"] for f in fields(Settings) if f.metadata.get("connection")}


def _blueprint_references() -> set[str]:
    """``%Name%`` and ``connection=`` references in the function blueprints (read by the host)."""
    names: set[str] = set()
    for path in ROOT.glob("*/blueprint.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and isinstance(node.value, ast.Constant):
                value = node.value.value
                if isinstance(value, str) and value.startswith("%") and value.endswith("%"):
                    names.add(value.strip("%"))
                elif node.arg == "connection" and isinstance(value, str):
                    names.add(value)
    return names


def test_the_function_app_gets_exactly_the_analysed_settings() -> None:
    passed = module_config(MAIN["modules"]["functionApp"])["params"]["appSettings"]
    assert passed == {
        "function": {
            "type": "union",
            "parameters": {
                "arg_1": "tuning",
                "arg_2": "appSettingsBase",
                "arg_3": "mqPasswordSetting",
                "arg_4": "operatorPlaneSettings",
            },
        }
    }
    site = FUNCTION_APP["resources"]["site"]["config"]["properties"]
    assert site["siteConfig"]["appSettings"] == "settingsList"
    loop = FUNCTION_APP["variables"]["settingsList"]["value"]
    assert loop["loop_type"]["detail"]["array_name"] == {
        "function": {"type": "items", "parameters": {"arg_1": "appSettings"}}
    }


@pytest.mark.parametrize("region_file", REGION_FILES, ids=lambda f: f.path.name)
def test_every_setting_the_code_reads_is_set(region_file: Any) -> None:
    settings = app_settings(region_file)
    connections = _connections()
    missing = []
    for name in setting_names():
        if name in NOT_SET_IN_AZURE:
            continue
        if name in connections:
            if f"{name}__{ENDPOINT_SUFFIX[name]}" not in settings:
                missing.append(f"{name}__{ENDPOINT_SUFFIX[name]}")
        elif name not in settings:
            missing.append(name)
    assert not missing, f"settings the code reads but the template does not set: {missing}"


def test_the_bindings_references_are_set() -> None:
    settings = app_settings(REGION_FILES[0])
    for name in _blueprint_references():
        assert name in settings or any(s.startswith(f"{name}__") for s in settings), name


def test_every_connection_is_identity_based_and_never_a_connection_string() -> None:
    settings = _base_settings()
    for name in _connections():
        assert name not in settings, f"{name} would be a connection string (a secret)"
        assert settings.get(f"{name}__clientId") or name == "RedisConnection", name
    assert "AzureWebJobsStorage" not in settings
    for name, value in settings.items():
        if name.endswith("__credential"):
            assert value == "managedidentity", name
        if name.endswith("__clientId"):
            assert value == "clientId", f"{name}: the user-assigned identity's client id"
    assert MAIN["variables"]["clientId"]["value"] == {
        "operator": {
            "type": "property_accessor",
            "operands": {
                "operand_1": "identity",
                "operand_2": {
                    "operator": {
                        "type": "property_accessor",
                        "operands": {"operand_1": "properties", "operand_2": "clientId"},
                    }
                },
            },
        }
    }


@pytest.mark.parametrize("region_file", REGION_FILES, ids=lambda f: f.path.name)
def test_no_unknown_setting_is_set(region_file: Any) -> None:
    known = set(setting_names()) | set(PLATFORM_SETTINGS)
    identity_forms = {
        f"{c}__{s}" for c in _connections() for s in (ENDPOINT_SUFFIX[c], "credential", "clientId")
    }
    unknown = app_settings(region_file) - known - identity_forms
    assert not unknown, f"set by the template but read by nobody (typo?): {sorted(unknown)}"


@pytest.mark.parametrize("region_file", REGION_FILES, ids=lambda f: f.path.name)
def test_settings_that_must_stay_unset_in_azure_are_unset(region_file: Any) -> None:
    settings = app_settings(region_file)
    assert not settings & set(NOT_SET_IN_AZURE)
    assert not settings & FLEX_FORBIDDEN


@pytest.mark.parametrize("region_file", REGION_FILES, ids=lambda f: f.path.name)
def test_tuning_never_overrides_a_fixed_setting(region_file: Any) -> None:
    assert not set(region_file.values["tuning"]) & set(_base_settings())
    assert all(isinstance(v, str) for v in region_file.values["tuning"].values()), "app settings are strings"


def test_the_tunables_parse_with_the_code_own_parsers() -> None:
    # Build Settings from what Azure would hold (connections as endpoints): no ConfigurationError.
    env = {name: "x" for name in app_settings(REGION_FILES[0])}
    env.update(REGION_FILES[0].values["tuning"])
    env.update({"BRIDGE_REGION": "DC04", "MQ_QUEUE_MANAGER": "QM"})
    env["BRIDGE_ROLE"] = REGION_FILES[0].values["role"]  # main.bicep: BRIDGE_ROLE: role
    env.update(
        {
            "MQ_CONN_NAME": "h(1414)",
            "TRANSLATION_BALANCE_MODE": REGION_FILES[0].values["tuning"]["TRANSLATION_BALANCE_MODE"],
        }
    )
    settings = Settings.from_mapping(env)
    assert settings.servicebus is not None and settings.servicebus.uses_identity
    assert settings.redis is not None and settings.redis.uses_identity


def test_the_runner_switch_names_the_runner_function() -> None:
    functions = blueprint_functions()
    assert {"queue_builder", "transformation_runner", "watchdog_timer"} <= functions
    switches = [n for n in _base_settings() if n.startswith("AzureWebJobs.") and n.endswith(".Disabled")]
    assert switches == ["AzureWebJobs.transformation_runner.Disabled"]
    always_ready = FUNCTION_APP["parameters"]["alwaysReadyGroups"]["default"]
    for group in always_ready:
        assert group == "http" or group.removeprefix("function:") in functions, group


def test_the_passive_region_deploys_with_the_runner_disabled() -> None:
    value = _base_settings()["AzureWebJobs.transformation_runner.Disabled"]
    assert value == {
        "operator": {
            "type": "conditional",
            "operands": {"condition": "isPassive", "true_value": "true", "false_value": "false"},
        }
    }
    assert MAIN["variables"]["isPassive"]["value"] == {
        "operator": {"type": "equals", "operands": {"operand_1": "role", "operand_2": "passive"}}
    }
    roles = {f.values["region"]: f.values["role"] for f in REGION_FILES}
    assert roles == {"DC04": "active", "DC06": "passive"}
