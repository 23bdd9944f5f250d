"""The Watchdog's triggers: a timer for the control loop, and the operators' HTTP routes.

Routes use function-level keys (``x-functions-key``) at least; with App Service authentication
(Entra ID) in front, the caller's principal name is taken from ``X-MS-CLIENT-PRINCIPAL-NAME``.
:func:`make_blueprint` takes the region provider from the composition root (``bootstrap``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Protocol

import azure.functions as func

from watchdog.controller import Watchdog
from watchdog.operator import OperatorApi

log = logging.getLogger("bridge.watchdog")
MAX_REQUEST_BYTES = 4096


class Region(Protocol):
    """What the triggers need of one region's components."""

    @property
    def watchdog(self) -> Watchdog: ...

    @property
    def operator(self) -> OperatorApi: ...


def make_blueprint(region: Callable[[], Region]) -> func.Blueprint:
    """The control-loop timer and the three operator routes, calling ``region()`` per invocation."""
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions ships it untyped

    @bp.function_name("watchdog_timer")
    @bp.timer_trigger(
        arg_name="timer", schedule="%WATCHDOG_SCHEDULE%", run_on_startup=True, use_monitor=False
    )
    def watchdog_timer(timer: func.TimerRequest) -> None:
        """One pass of the control loop (health, heartbeat, converge, failover decisions)."""
        region().watchdog.tick()

    @bp.function_name("watchdog_status")
    @bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    def watchdog_status(req: func.HttpRequest) -> func.HttpResponse:
        """Active region, epoch, health and heartbeat of each region, backlog, last failover, counters."""
        return _json(*region().operator.status())

    @bp.function_name("watchdog_failover")
    @bp.route(route="failover", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
    def watchdog_failover(req: func.HttpRequest) -> func.HttpResponse:
        """``{"target": "DC06", "reason": "...", "force": false}`` → compare-and-set flip."""
        body = _body(req)
        if isinstance(body, func.HttpResponse):
            return body
        return _json(*region().operator.failover(body, caller=caller_of(req)))

    @bp.function_name("watchdog_replay")
    @bp.route(route="replay", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
    def watchdog_replay(req: func.HttpRequest) -> func.HttpResponse:
        """``{}`` (from the checkpoint), ``{"after": "<wal name>"}`` or ``{"from": ISO, "to": ISO}``."""
        body = _body(req)
        if isinstance(body, func.HttpResponse):
            return body
        return _json(*region().operator.replay(body, caller=caller_of(req)))

    return bp


def caller_of(req: func.HttpRequest) -> str:
    """Who called: the Entra ID principal when App Service authentication is on, else the key holder."""
    principal = req.headers.get("x-ms-client-principal-name")
    return principal[:200] if principal else "function-key"


def _body(req: func.HttpRequest) -> dict[str, object] | func.HttpResponse:
    raw = req.get_body() or b"{}"
    if len(raw) > MAX_REQUEST_BYTES:
        return _json(413, {"error": f"request body over {MAX_REQUEST_BYTES} bytes"})
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _json(400, {"error": "request body is not JSON"})
    if not isinstance(body, dict):
        return _json(400, {"error": "request body must be a JSON object"})
    return body


def _json(status: int, body: object) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json")
