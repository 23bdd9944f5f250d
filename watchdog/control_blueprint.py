"""The control app's one route: the runner's consumption switch of this region's bridge app.

The region's control function app (a separate app, ``bootstrap.control``, running only this
blueprint) is the only holder of a control-plane role (Website Contributor on the bridge app). The
bridge app's Watchdog asks it, with its managed identity's token
(:class:`shared.adapters.control_switch.RemoteConsumptionSwitch`), to turn consumption on or off:

``POST /api/consumption {"enabled": true|false}`` → ``{"region", "enabled"}``;
``GET  /api/consumption`` → the live value.

Who may: Easy Auth validates the token; the principal must hold the application role
``Bridge.Switch`` AND be this region's bridge data identity (its Entra object id,
``CONTROL_CALLER_OBJECT_ID``), so neither another app holding the role nor a person can use it. The
route can do nothing but this one switch of this one app; every call is audited
(``operator.audit``, action ``consumption``). Why a separate app: docs/security.md, "Control-plane
rights".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import azure.functions as func

from shared.errors import TransientError
from shared.ports import ConsumptionSwitch
from watchdog.auth import SWITCHER
from watchdog.http import json_response, principal, request_body
from watchdog.operator import audit


@dataclass(frozen=True)
class Control:
    """The control app of one region: the bridge app's switch and the one caller allowed to use it."""

    region: str
    switch: ConsumptionSwitch
    caller_object_id: str


def make_blueprint(control: Callable[[], Control]) -> func.Blueprint:
    """The consumption route, calling ``control()`` per invocation."""
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions ships it untyped

    @bp.function_name("control_consumption")
    @bp.route(route="consumption", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
    def control_consumption(req: func.HttpRequest) -> func.HttpResponse:
        """Read or set the bridge app's runner switch (the bridge's own identity only)."""
        who = principal(req, SWITCHER)
        if isinstance(who, func.HttpResponse):
            return who
        current = control()

        def audited(body: dict[str, object], response: tuple[int, dict[str, object]]) -> func.HttpResponse:
            return json_response(
                *audit(
                    current.region,
                    caller=who.name,
                    action="consumption",
                    body=body,
                    response=response,
                    fields=("enabled",),
                )
            )

        if not current.caller_object_id or who.object_id != current.caller_object_id:
            return audited({}, (403, {"error": f"{who.name} is not {current.region}'s bridge app identity"}))
        if req.method == "GET":
            return _answer(current, current.switch.enabled)
        body = request_body(req)
        if isinstance(body, func.HttpResponse):
            return body
        enabled = body.get("enabled")
        if not isinstance(enabled, bool):
            return audited(body, (400, {"error": "enabled: expected true or false"}))
        return audited(body, _set(current, enabled))

    return bp


def _set(current: Control, enabled: bool) -> tuple[int, dict[str, object]]:
    try:
        current.switch.set_enabled(enabled)
    except TransientError as error:  # ARM away: the Watchdog asks again on its next tick
        return 503, {"error": str(error)}
    return 200, {"region": current.region, "enabled": enabled}


def _answer(current: Control, read: Callable[[], bool]) -> func.HttpResponse:
    try:
        return json_response(200, {"region": current.region, "enabled": read()})
    except TransientError as error:
        return json_response(503, {"error": str(error)})
