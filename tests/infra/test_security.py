"""No secret anywhere in the infrastructure code, and no data service that accepts one.

Every data-plane access is Entra ID with the regions' managed identities: shared keys, SAS and access
keys are disabled on every service that has them, nothing calls a list*() key function, and every
data service is reachable only through private endpoints.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep import INFRA, bicep_files, module_config, parse_bicep

TEMPLATES = bicep_files()
FILES = sorted(p for p in INFRA.rglob("*") if p.is_file())

SECRET_PATTERNS = {
    "storage account key": re.compile(r"AccountKey\s*=", re.IGNORECASE),
    "SAS key": re.compile(r"SharedAccessKey(Name)?\s*=", re.IGNORECASE),
    "SAS token": re.compile(r"[?&]sig=|SharedAccessSignature\s+sr=", re.IGNORECASE),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "key-like literal": re.compile(r"'[A-Za-z0-9+/]{40,}={0,2}'"),
    "password literal": re.compile(
        r"\b\w*(password|passwd|pwd|secret)\s*[:=]\s*'[^'$@][^']*'", re.IGNORECASE
    ),
    "key listing": re.compile(
        r"\blist(Keys|ConnectionStrings|AccountSas|ServiceSas|Credentials?|Secrets)\s*\("
    ),
}


def _id(path: Path) -> str:
    return str(path.relative_to(INFRA))


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_no_secret_looking_text(path: Path) -> None:
    text = path.read_text()
    for what, pattern in SECRET_PATTERNS.items():
        match = pattern.search(text)
        assert not match, f"{_id(path)}: {what}: {match.group() if match else ''}"


def test_the_secret_patterns_would_catch_the_usual_leaks() -> None:
    leaks = [
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc;",
        "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=abc",
        "param adminPassword = 'Hunter2!'",
        "value: listKeys(account.id, '2023-05-01').keys[0].value",
        "key: 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0'",
    ]
    for leak in leaks:
        assert any(p.search(leak) for p in SECRET_PATTERNS.values()), leak


@pytest.mark.parametrize("path", TEMPLATES, ids=_id)
def test_secure_parameters_have_no_default_and_outputs_expose_no_secret(path: Path) -> None:
    template = parse_bicep(path)
    for name, param in template.get("parameters", {}).items():
        if any(d.get("type") == "secure" for d in param.get("decorators", [])):
            assert param.get("default") is None, f"{_id(path)} {name}: a secure parameter with a default"
    for name in template.get("outputs", {}):
        assert not re.search(r"key|secret|password|connectionstring", name, re.IGNORECASE), (
            f"{_id(path)} {name}"
        )


def _resolve(value: Any, template: dict[str, Any]) -> Any:
    """A property value with variable references and union() of objects resolved (one level deep)."""
    variables = template.get("variables", {})
    if isinstance(value, str) and value in variables:
        return _resolve(variables[value]["value"], template)
    function = value.get("function") if isinstance(value, dict) else None
    if function and function.get("type") == "union":
        merged: dict[str, Any] = {}
        for arg in function["parameters"].values():
            resolved = _resolve(arg, template)
            if isinstance(resolved, dict):
                merged.update(resolved)
        return merged
    return value


def _resources(kind: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in TEMPLATES:
        template = parse_bicep(path)
        for name, resource in template.get("resources", {}).items():
            if resource["type"] == kind and not resource["existing"]:
                properties = _resolve(module_config(resource).get("properties", {}), template)
                found.append((f"{_id(path)}:{name}", properties))
    assert found, f"no {kind} declared"
    return found


# (resource type, property path, required value): local authentication off, private access only.
HARDENING = [
    ("Microsoft.Storage/storageAccounts", "allowSharedKeyAccess", False),
    ("Microsoft.Storage/storageAccounts", "allowBlobPublicAccess", False),
    ("Microsoft.Storage/storageAccounts", "publicNetworkAccess", "Disabled"),
    ("Microsoft.ServiceBus/namespaces", "disableLocalAuth", True),
    ("Microsoft.ServiceBus/namespaces", "publicNetworkAccess", "Disabled"),
    ("Microsoft.DocumentDB/databaseAccounts", "disableLocalAuth", True),
    ("Microsoft.DocumentDB/databaseAccounts", "publicNetworkAccess", "Disabled"),
    ("Microsoft.Cache/redisEnterprise", "publicNetworkAccess", "Disabled"),
    ("Microsoft.Cache/redisEnterprise/databases", "accessKeysAuthentication", "Disabled"),
    ("Microsoft.Cache/redisEnterprise/databases", "clientProtocol", "Encrypted"),
    ("Microsoft.KeyVault/vaults", "enableRbacAuthorization", True),
    ("Microsoft.KeyVault/vaults", "publicNetworkAccess", "Disabled"),
    ("Microsoft.Insights/components", "DisableLocalAuth", True),
    ("Microsoft.OperationalInsights/workspaces", "features.disableLocalAuth", True),
    ("Microsoft.Web/sites", "httpsOnly", True),
    ("Microsoft.Web/sites/basicPublishingCredentialsPolicies", "allow", False),
]


@pytest.mark.parametrize(("kind", "prop", "expected"), HARDENING, ids=[f"{k}.{p}" for k, p, _ in HARDENING])
def test_every_data_service_refuses_keys_and_public_access(kind: str, prop: str, expected: object) -> None:
    for name, properties in _resources(kind):
        value: Any = properties
        for part in prop.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        assert value == expected, f"{name}: {prop} is {value!r}, expected {expected!r}"


def test_the_function_app_runs_as_its_user_assigned_identity_everywhere() -> None:
    ((name, site),) = _resources("Microsoft.Web/sites")
    storage = site["functionAppConfig"]["deployment"]["storage"]["authentication"]
    assert storage == {"type": "UserAssignedIdentity", "userAssignedIdentityResourceId": "identityId"}, name
    assert site["keyVaultReferenceIdentity"] == "identityId"


def test_the_mq_password_is_a_key_vault_reference_not_a_value() -> None:
    template = parse_bicep(INFRA / "main.bicep")
    setting = template["variables"]["mqPasswordSetting"]["value"]["operator"]["operands"]["false_value"]
    assert setting["MQ_PASSWORD"].startswith("@Microsoft.KeyVault(SecretUri=")
