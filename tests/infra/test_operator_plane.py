"""The operator plane in Bicep: private by default, Easy Auth with the app roles the code checks, the
control-plane role on a separate identity, the workbook reading telemetry the code really emits."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from bootstrap.control import CONTROL_SETTINGS
from tests.infra.bicep import (
    INFRA,
    ROOT,
    blueprint_functions,
    key,
    module_config,
    parse_bicep,
    parse_bicepparam,
)
from watchdog.auth import ROLES, SWITCHER

MODULES = INFRA / "modules"
MAIN = parse_bicep(INFRA / "main.bicep")
WEBSITE_CONTRIBUTOR = "de139f84-1756-47ae-9be6-808fbbe84772"


def test_the_app_is_private_unless_a_parameter_opens_it() -> None:
    app = parse_bicep(MODULES / "function-app.bicep")
    assert app["parameters"]["publicNetworkAccess"]["default"] == "Disabled"
    passed = module_config(MAIN["modules"]["functionApp"])["params"]["publicNetworkAccess"]
    assert passed["operator"]["operands"] == {
        "condition": "operatorPlanePublic",
        "true_value": "Enabled",
        "false_value": "Disabled",
    }
    assert MAIN["parameters"]["operatorPlanePublic"]["default"] is False
    for region in ("dc04", "dc06"):
        assert parse_bicepparam(INFRA / f"{region}.bicepparam").values["operatorPlanePublic"] is False


def test_the_app_has_a_private_endpoint_in_its_dns_zone() -> None:
    endpoint = module_config(MAIN["modules"]["appPrivateEndpoint"])["params"]
    assert endpoint["groupId"] == "sites"
    assert "functionApp" in str(endpoint["targetId"]) and "privateDnsZoneFormats.sites" in str(
        endpoint["privateDnsZoneId"]
    )
    # One of the shared zones (private-dns-zones.bicep makes one per format, private-dns-links.bicep
    # links each to both VNets and hubs), not a per-region copy.
    zones = parse_bicep(INFRA / "naming.bicep")["variables"]["privateDnsZoneFormats"]["value"]
    assert zones["sites"] == "privatelink.azurewebsites.net"


def test_easy_auth_requires_sign_in_and_declares_the_roles_the_code_checks() -> None:
    auth = parse_bicep(MODULES / "auth.bicep")
    properties = module_config(auth["resources"]["auth"])["properties"]
    assert module_config(auth["resources"]["auth"])["name"] == "authsettingsV2"
    assert properties["platform"] == {"enabled": True}
    assert properties["globalValidation"]["requireAuthentication"] is True
    assert properties["globalValidation"]["unauthenticatedClientAction"] == "unauthenticatedClientAction"
    assert auth["parameters"]["unauthenticatedClientAction"]["default"] == "RedirectToLoginPage"
    assert properties["login"]["tokenStore"] == {"enabled": False}
    assert properties["httpSettings"]["requireHttps"] is True
    assert properties["identityProviders"]["azureActiveDirectory"]["enabled"] is True
    registration = properties["identityProviders"]["azureActiveDirectory"]["registration"]
    assert registration["clientId"] == "clientId"
    passed = module_config(MAIN["modules"]["auth"])["params"]
    assert passed["clientId"] == "operatorAuthClientId"
    assert MAIN["modules"]["auth"]["config"]["condition"] is not None  # only with a client id


SHARED = parse_bicep(INFRA / "shared.bicep")
ROLES_FILE = parse_bicep(INFRA / "operator-roles.bicep")


def test_the_app_roles_are_the_ones_the_code_checks_declared_once() -> None:
    roles = ROLES_FILE["variables"]["operatorAppRoles"]["value"]
    assert sorted(r["value"] for r in roles) == sorted(ROLES)
    assert all(r["displayName"] == r["value"] and r["isEnabled"] is True for r in roles)
    assert all(r["allowedMemberTypes"] == ["User"] and r["description"] for r in roles)
    ids = [r["id"] for r in roles]
    assert len(set(ids)) == 3 and all(
        re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", i) for i in ids
    )
    users = [p.name for p in INFRA.rglob("*.bicep") if "operatorAppRoles" in p.read_text()]
    assert sorted(users) == ["operator-app.bicep", "operator-roles.bicep", "shared.bicep"]


def test_the_registration_is_declared_with_the_microsoft_graph_extension() -> None:
    config = json.loads((INFRA / "bicepconfig.json").read_text())
    assert config["extensions"]["microsoftGraphV1"] == (
        "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0"
    )
    module = parse_bicep(MODULES / "operator-app.bicep")
    assert module["extensions"] == {"microsoftGraphV1": {}}
    app, principal = module["resources"]["app"], module["resources"]["servicePrincipal"]
    assert (app["type"], app["api_version"]) == ("Microsoft.Graph/applications", "v1.0")
    assert (principal["type"], principal["api_version"]) == ("Microsoft.Graph/servicePrincipals", "v1.0")
    body = app["config"]
    assert body["uniqueName"] == "uniqueName"  # the alternate key: a re-run updates, never duplicates
    assert body["signInAudience"] == "AzureADMyOrg"
    assert body["appRoles"]["function"] == {
        "type": "concat",
        "parameters": {"arg_1": "operatorAppRoles", "arg_2": ["switchAppRole"]},
    }
    assert body["web"]["implicitGrantSettings"]["enableIdTokenIssuance"] is True  # browser sign-in
    assert body["web"]["redirectUris"]["config"] == "https://${host}/.auth/login/aad/callback"
    assert "passwordCredentials" not in body and "keyCredentials" not in body  # no client secret
    assert principal["config"]["appRoleAssignmentRequired"] is True  # only assigned people sign in
    # The CLI's token: a delegated scope pre-authorized for the Azure CLI, v2 tokens (Easy Auth's issuer).
    api = body["api"]
    assert api["requestedAccessTokenVersion"] == 2
    [scope] = api["oauth2PermissionScopes"]
    [cli] = api["preAuthorizedApplications"]
    assert cli["appId"] == "azureCliAppId" and cli["delegatedPermissionIds"] == ["cliScopeId"] == [
        scope["id"]
    ]
    assert module["variables"]["azureCliAppId"]["value"] == "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
    issuer = parse_bicep(MODULES / "auth.bicep")["resources"]["auth"]["config"]["properties"]
    assert "/v2.0" in str(issuer["identityProviders"]["azureActiveDirectory"]["registration"]["openIdIssuer"])
    assert principal["config"]["appId"]["operator"]["operands"] == {"operand_1": "app", "operand_2": "appId"}


def test_stage_one_declares_it_unless_an_existing_registration_is_named_and_hands_it_to_easy_auth() -> None:
    assert SHARED["parameters"]["existingOperatorAppClientId"]["default"] == ""
    assert parse_bicepparam(INFRA / "shared.bicepparam").values["existingOperatorAppClientId"] == ""
    module = SHARED["modules"]["operatorApp"]
    assert "existingOperatorAppClientId" in str(module["config"]["condition"])
    hosts = module_config(module)["params"]["appHostNames"]
    assert "nameFormats.functionApp" in str(hosts) and "regionCodes" in str(hosts)  # both regions' apps
    output = SHARED["outputs"]["operatorAuthClientId"]["value"]["operator"]["operands"]
    assert "existingOperatorAppClientId" in str(output["condition"])
    assert (
        "operatorApp" in str(output["true_value"]) and output["false_value"] == "existingOperatorAppClientId"
    )
    assert SHARED["outputs"]["operatorAppRoles"]["value"]["function"]["parameters"] == {
        "arg_1": "operatorAppRoles",
        "arg_2": ["switchAppRole"],
    }
    script = (INFRA / "deploy.sh").read_text()
    assert "--query properties.outputs.operatorAuthClientId.value" in script
    assert '"operatorAuthClientId=$OPERATOR_CLIENT_ID"' in script


def _role_assignments() -> list[tuple[str, str, Any]]:
    found = []
    for path in sorted(INFRA.rglob("*.bicep")):
        template = parse_bicep(path)
        variables = {name: v["value"] for name, v in template.get("variables", {}).items()}
        for name, resource in template.get("resources", {}).items():
            if resource["type"] == "Microsoft.Authorization/roleAssignments":
                found.append((f"{path.name}:{name}", str(resource), variables))
    return found


def test_only_the_control_identity_holds_website_contributor_on_its_own_bridge_app() -> None:
    holders = [
        name
        for name, text, variables in _role_assignments()
        if any(var in text and value == WEBSITE_CONTRIBUTOR for var, value in variables.items())
    ]
    assert holders == ["control-roles.bicep:appSettingsWriter"]
    writer = parse_bicep(MODULES / "control-roles.bicep")["resources"]["appSettingsWriter"]["config"]
    assert writer["scope"] == "site" and writer["properties"]["principalId"] == "controlPrincipalId"
    params = module_config(MAIN["modules"]["controlRoles"])["params"]
    assert "controlIdentity" in str(params["controlPrincipalId"])
    assert (
        params["functionAppName"]["operator"]["operands"]["operand_1"] == "functionApp"
    )  # this region's bridge app
    assert "peerControlIdentity" not in (INFRA / "main.bicep").read_text()


def test_the_bridge_app_carries_one_identity_and_asks_the_control_app() -> None:
    site = parse_bicep(MODULES / "function-app.bicep")["resources"]["site"]["config"]
    assert [key(k) for k in site["identity"]["userAssignedIdentities"]] == ["${identityId}"]
    bridge = module_config(MAIN["modules"]["functionApp"])["params"]
    assert bridge["identityId"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "identity", "operand_2": "id"}}
    }
    settings = MAIN["variables"]["operatorPlaneSettings"]["value"]
    assert set(settings) == {"CONTROL_APP_URL", "CONTROL_APP_SCOPE"}
    assert settings["CONTROL_APP_URL"] == "https://${names.controlApp}.azurewebsites.net/api/consumption"
    assert settings["CONTROL_APP_SCOPE"] == "${operatorAuthClientId}/.default"
    base = MAIN["variables"]["appSettingsBase"]["value"]
    assert not {"AZURE_CONTROL_CLIENT_ID", "AZURE_SUBSCRIPTION_ID"} & set(base)
    code = (ROOT / "shared" / "adapters").rglob("*.py")
    assert not any("AZURE_CONTROL_CLIENT_ID" in path.read_text() for path in code)


def _dotted(value: Any) -> str:
    """``a.b.c`` for pycep's nested property accessors (other values as text)."""
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "property_accessor":
        operands = value["operator"]["operands"]
        return f"{_dotted(operands['operand_1'])}.{_dotted(operands['operand_2'])}"
    return str(value)


def test_the_control_app_is_separate_private_and_runs_only_the_switch() -> None:
    app = module_config(MAIN["modules"]["controlApp"])["params"]
    names = [app[p]["operator"]["operands"] for p in ("name", "planName")]
    assert names == [
        {"operand_1": "names", "operand_2": "controlApp"},
        {"operand_1": "names", "operand_2": "controlPlan"},
    ]
    assert app["identityId"] == {
        "operator": {
            "type": "property_accessor",
            "operands": {"operand_1": "controlIdentity", "operand_2": "id"},
        }
    }
    assert app["publicNetworkAccess"] == "Disabled" and app["alwaysReadyGroups"] == ["http"]
    assert "controlSubnetId" in str(app["subnetId"]) and "-control" in str(app["deploymentContainerUrl"])
    settings = {key(k): v for k, v in MAIN["variables"]["controlAppSettings"]["value"].items()}
    assert settings["BRIDGE_APP"] == "control"
    assert set(CONTROL_SETTINGS) <= set(settings)
    platform = {
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "AZURE_CLIENT_ID",
        "BRIDGE_APP",
    }
    assert set(settings) == set(CONTROL_SETTINGS) | platform  # no MQ, Service Bus, Blob, Cosmos or Redis
    assert _dotted(settings["CONTROL_CALLER_OBJECT_ID"]) == "identity.properties.principalId"  # the bridge's
    assert _dotted(settings["CONTROL_TARGET_APP"]) == "names.functionApp"
    assert settings["AZURE_CLIENT_ID"] == "controlClientId"
    endpoint = module_config(MAIN["modules"]["controlAppPrivateEndpoint"])["params"]
    assert endpoint["groupId"] == "sites" and "controlApp" in str(endpoint["targetId"])
    auth = module_config(MAIN["modules"]["controlAuth"])["params"]
    assert auth["unauthenticatedClientAction"] == "Return401" and "controlApp" in str(auth["functionAppName"])
    roles = module_config(MAIN["modules"]["controlAppRoles"])["params"]
    assert roles["keyVaultAccess"] is False and "controlIdentity" in str(roles["ownPrincipalId"])


def test_each_bridge_identity_holds_the_switch_role_on_the_registration() -> None:
    role = ROLES_FILE["variables"]["switchAppRole"]["value"]
    assert role["value"] == SWITCHER and role["allowedMemberTypes"] == ["Application"]
    assert role["id"] not in {r["id"] for r in ROLES_FILE["variables"]["operatorAppRoles"]["value"]}
    module = parse_bicep(MODULES / "operator-app.bicep")
    assignments = module["resources"]["switchAssignments"]
    assert (assignments["type"], assignments["api_version"]) == ("Microsoft.Graph/appRoleAssignedTo", "v1.0")
    body = assignments["config"]["config"]
    assert assignments["config"]["loop_type"]["detail"]["array_name"] == "switchPrincipalIds"
    assert body["principalId"] == "principalId" and "servicePrincipal" in str(body["resourceId"])
    assert "switchAppRole" in str(body["appRoleId"])
    passed = module_config(SHARED["modules"]["operatorApp"])["params"]["switchPrincipalIds"]
    assert "identities" in str(passed) and "principalId" in str(passed)


def _code_strings() -> set[str]:
    strings: set[str] = set()
    for folder in ("shared", "watchdog", "queue_builder", "transformation_runner"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    strings.add(node.value)
    return strings


def test_the_workbook_reads_what_the_code_emits() -> None:
    workbook = parse_bicep(MODULES / "workbook.bicep")
    queries = {n: v["value"] for n, v in workbook["variables"].items() if n.endswith("Query")}
    assert len(queries) == 7
    strings = _code_strings()
    text = "\n".join(queries.values())
    events = {e for e in re.findall(r'"([a-z_]+\.[a-z_]+)"', text) if not e.startswith("bridge.")}
    assert events and events <= strings, sorted(events - strings)
    functions = set(re.findall(r'"(watchdog_timer|queue_builder)"', text))
    assert functions == {"watchdog_timer", "queue_builder"} <= blueprint_functions()
    # Gauges: shared.telemetry exports metrics.gauge(name) as bridge.<name>.
    assert (
        "bridge.mq_depth" in text and '"mq_depth"' in (ROOT / "watchdog" / "probe_telemetry.py").read_text()
    )
    assert 'f"probe_{self.name}_ok"' in (ROOT / "watchdog" / "probe_telemetry.py").read_text()
    for field in ("stuck", "failed", "in_doubt", "missing_at_target", "out_of_order"):
        assert f"Properties.{field}" in queries["reconcileQuery"]
