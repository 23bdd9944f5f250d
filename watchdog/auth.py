"""Who is calling an operator route, and may they: the platform's authenticated principal and app roles.

The identity comes ONLY from ``X-MS-CLIENT-PRINCIPAL``, the header App Service authentication
(Easy Auth) sets after it validated the caller's Entra ID token: base64 of a JSON document
``{"auth_typ", "name_typ", "role_typ", "claims": [{"typ", "val"}, ...]}``. The platform strips any
client-supplied ``X-MS-*`` identity headers ("External requests aren't allowed to set these headers,
so they are present only if set by App Service":
https://learn.microsoft.com/en-us/azure/app-service/configure-authentication-user-identities), which
is why the app must only be reachable through Easy Auth (docs/security.md, "Operator plane").

Fail closed: on App Service (``WEBSITE_SITE_NAME`` set) the header is believed only while the platform
says authentication is on (``WEBSITE_AUTH_ENABLED=True``, set by the platform when Easy Auth is
enabled); otherwise every operator route answers 503. Off App Service (the local dev host) the host
itself strips and injects the header (``dev/http.py``), as the platform does.

App roles (Entra ID app roles, ``roles`` claims; declared with the operators' app registration in
``infra/operator-roles.bicep``; the application role ``Bridge.Switch`` is for the bridge apps'
identities calling their region's control app, ``watchdog/control_blueprint.py``):

=====================  =================================================================
``Bridge.Reader``      status, status page, trace, reconciliation reports, pending requests
``Bridge.Operator``    the reader's rights + failover, replay, reconcile now, resubmit, resend request
``Bridge.Approver``    the reader's rights + approving a pending request of *another* person
=====================  =================================================================
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

READER = "Bridge.Reader"
OPERATOR = "Bridge.Operator"
APPROVER = "Bridge.Approver"
ROLES = (READER, OPERATOR, APPROVER)
#: The one application (not user) role: the bridge app's data identity may ask its region's control
#: app to turn the runner's consumption on or off (watchdog/control_blueprint.py, docs/security.md).
SWITCHER = "Bridge.Switch"
#: Operators and approvers may read too; nobody else may do anything.
_IMPLIES = {OPERATOR: {READER}, APPROVER: {READER}}

HEADER = "x-ms-client-principal"
_ROLE_CLAIMS = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
_NAME_CLAIMS = ("preferred_username", "name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name")
#: The caller's Entra object id (a user's, or a managed identity's for an app-only token).
_OBJECT_ID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
MAX_HEADER_BYTES = 16 * 1024


class Denied(Exception):
    """The caller may not use the route: ``status`` is 401 (who?), 403 (not allowed) or 503 (plane off)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: ``name`` for the audit trail, ``roles`` from the token's app roles,
    ``object_id`` its Entra object id (``app:<object id>`` is the name of an app-only caller)."""

    name: str
    roles: frozenset[str]
    object_id: str = ""

    def has(self, role: str) -> bool:
        return role in self.roles or any(role in _IMPLIES.get(held, ()) for held in self.roles)


def principal_of(headers: Mapping[str, str], environ: Mapping[str, str] = os.environ) -> Principal:
    """The principal the platform authenticated; :class:`Denied` when there is none or it is unusable."""
    if environ.get("WEBSITE_SITE_NAME") and environ.get("WEBSITE_AUTH_ENABLED", "").lower() != "true":
        raise Denied(503, "operator plane disabled: App Service authentication (Easy Auth) is off")
    lowered = {key.lower(): value for key, value in headers.items()}
    raw = lowered.get(HEADER)
    if not raw:
        raise Denied(401, "no authenticated principal: sign in through App Service authentication")
    if len(raw) > MAX_HEADER_BYTES:
        raise Denied(401, "principal header too large")
    try:
        document = json.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise Denied(401, "principal header is not base64 JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("claims"), list):
        raise Denied(401, "principal header has no claims")
    claims = [c for c in document["claims"] if isinstance(c, dict)]
    name_types = (str(document.get("name_typ", "")), *_NAME_CLAIMS)
    role_types = {str(document.get("role_typ", "")), *_ROLE_CLAIMS}

    def first(types: tuple[str, ...]) -> str:
        return next(
            (str(c.get("val")) for typ in types for c in claims if c.get("typ") == typ and c.get("val")), ""
        )

    object_id = first(_OBJECT_ID_CLAIMS)
    name = first(name_types) or (f"app:{object_id}" if object_id else "")
    if not name:
        raise Denied(401, "principal has no name claim")
    roles = frozenset(str(c.get("val")) for c in claims if c.get("typ") in role_types)
    return Principal(name=name[:200], roles=roles, object_id=object_id[:64])


def authorise(headers: Mapping[str, str], role: str, environ: Mapping[str, str] = os.environ) -> Principal:
    """The principal of ``headers`` if it holds ``role``; else :class:`Denied` (403 names the role)."""
    principal = principal_of(headers, environ)
    if not principal.has(role):
        raise Denied(403, f"{principal.name} lacks the app role {role}")
    return principal


def encode_principal(name: str, roles: tuple[str, ...] | list[str], object_id: str = "") -> str:
    """The header value Easy Auth would send for ``name`` with ``roles`` (dev host, tests); an app-only
    caller (a managed identity) has no ``name`` and an ``object_id``."""
    claims = [{"typ": "preferred_username", "val": name}] if name else []
    claims += [{"typ": "roles", "val": r} for r in roles]
    if object_id:
        claims.append({"typ": _OBJECT_ID_CLAIMS[0], "val": object_id})
    document = {"auth_typ": "aad", "name_typ": "preferred_username", "role_typ": "roles", "claims": claims}
    return base64.b64encode(json.dumps(document).encode()).decode()
