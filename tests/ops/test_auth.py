"""The operator principal: only the platform's X-MS-CLIENT-PRINCIPAL counts, roles per route, fail closed."""

from __future__ import annotations

import base64
import json

import pytest

from watchdog.auth import APPROVER, OPERATOR, READER, Denied, authorise, encode_principal, principal_of

LOCAL: dict[str, str] = {}
APP_SERVICE_ON = {"WEBSITE_SITE_NAME": "func-bridge-dc04", "WEBSITE_AUTH_ENABLED": "True"}


def header(document: object) -> dict[str, str]:
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(document).encode()).decode()}


def test_an_easy_auth_principal_with_its_roles() -> None:
    # The shape App Service sends for an Entra ID user (name_typ/role_typ name the claim types).
    document = {
        "auth_typ": "aad",
        "name_typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
        "role_typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
        "claims": [
            {"typ": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "val": "olga@bank.example"},
            {"typ": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role", "val": OPERATOR},
            {"typ": "roles", "val": APPROVER},
            {"typ": "groups", "val": "Bridge.Reader-lookalike"},
        ],
    }
    principal = principal_of(header(document), APP_SERVICE_ON)
    assert principal.name == "olga@bank.example" and principal.roles == {OPERATOR, APPROVER}
    assert principal.has(READER) and principal.has(OPERATOR) and principal.has(APPROVER)


def test_roles_imply_reading_only() -> None:
    reader = principal_of({"x-ms-client-principal": encode_principal("rita", [READER])}, LOCAL)
    approver = principal_of({"x-ms-client-principal": encode_principal("anna", [APPROVER])}, LOCAL)
    assert reader.has(READER) and not reader.has(OPERATOR) and not reader.has(APPROVER)
    assert approver.has(READER) and not approver.has(OPERATOR)
    with pytest.raises(Denied) as denied:
        authorise({"x-ms-client-principal": encode_principal("rita", [READER])}, OPERATOR, LOCAL)
    assert denied.value.status == 403 and "rita lacks the app role Bridge.Operator" in denied.value.reason


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "no authenticated principal"),
        ({"x-ms-client-principal-name": "admin"}, "no authenticated principal"),  # not the identity
        ({"x-ms-client-principal": "not base64!"}, "not base64 JSON"),
        ({"x-ms-client-principal": base64.b64encode(b"[]").decode()}, "no claims"),
        (header({"claims": [{"typ": "roles", "val": OPERATOR}]}), "no name claim"),
        ({"x-ms-client-principal": "A" * 20000}, "too large"),
    ],
)
def test_no_usable_principal_is_401(headers: dict[str, str], fragment: str) -> None:
    with pytest.raises(Denied) as denied:
        principal_of(headers, LOCAL)
    assert denied.value.status == 401 and fragment in denied.value.reason


def test_on_app_service_without_easy_auth_the_plane_is_closed() -> None:
    # Without Easy Auth nothing strips a client's X-MS-CLIENT-PRINCIPAL: believing it would let anyone in.
    forged = {"x-ms-client-principal": encode_principal("mallory", [OPERATOR, APPROVER])}
    for environ in (
        {"WEBSITE_SITE_NAME": "func-bridge-dc04"},
        {**APP_SERVICE_ON, "WEBSITE_AUTH_ENABLED": "False"},
    ):
        with pytest.raises(Denied) as denied:
            principal_of(forged, environ)
        assert denied.value.status == 503 and "Easy Auth" in denied.value.reason
