"""The Watchdog's triggers: a timer for the control loop, and the operators' HTTP routes.

Every route needs a function key (``x-functions-key``) AND the caller's Entra ID principal from App
Service authentication with the route's app role (``watchdog.auth``): status ``Bridge.Reader``,
failover and replay ``Bridge.Operator``. A forced failover is only requested here; a second person
approves it (``POST /api/approve``, ``watchdog.desk``). The operations desk's routes are in
``watchdog.desk_blueprint``. :func:`make_blueprint` takes the region provider from the composition
root (``bootstrap``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import azure.functions as func

from shared.telemetry import log_event
from watchdog.auth import OPERATOR, READER
from watchdog.desk_blueprint import Region, desk_of
from watchdog.http import json_response, principal, request_body

log = logging.getLogger("bridge.watchdog")


def make_blueprint(region: Callable[[], Region]) -> func.Blueprint:
    """The control-loop timer and the three operator routes, calling ``region()`` per invocation."""
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions ships it untyped

    @bp.function_name("watchdog_timer")
    @bp.timer_trigger(
        arg_name="timer", schedule="%WATCHDOG_SCHEDULE%", run_on_startup=True, use_monitor=False
    )
    def watchdog_timer(timer: func.TimerRequest) -> None:
        """One pass of the control loop (health, heartbeat, converge, failover decisions); its outcome
        is the event ``watchdog.tick`` (active region, epoch, action), which the workbook reads."""
        result = region().watchdog.tick()
        log_event(log, logging.INFO, "watchdog.tick", **result)

    @bp.function_name("watchdog_status")
    @bp.route(route="status", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    def watchdog_status(req: func.HttpRequest) -> func.HttpResponse:
        """Active region, epoch, health and heartbeat of each region, backlog, last failover, counters."""
        who = principal(req, READER)
        if isinstance(who, func.HttpResponse):
            return who
        return json_response(*region().operator.status())

    @bp.function_name("watchdog_failover")
    @bp.route(route="failover", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
    def watchdog_failover(req: func.HttpRequest) -> func.HttpResponse:
        """``{"target": "DC06", "reason": "...", "force": false}`` → compare-and-set flip; with
        ``force`` → a pending request for a second approver."""
        who = principal(req, OPERATOR)
        if isinstance(who, func.HttpResponse):
            return who
        body = request_body(req)
        if isinstance(body, func.HttpResponse):
            return body
        current = region()
        if body.get("force") is True:
            desk = desk_of(current)
            if isinstance(desk, func.HttpResponse):
                return desk
            return json_response(*desk.desk.request_failover(body, who=who.name))
        return json_response(*current.operator.failover(body, caller=who.name))

    @bp.function_name("watchdog_replay")
    @bp.route(route="replay", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
    def watchdog_replay(req: func.HttpRequest) -> func.HttpResponse:
        """``{}`` (from the checkpoint), ``{"after": "<wal name>"}`` or ``{"from": ISO, "to": ISO}``."""
        who = principal(req, OPERATOR)
        if isinstance(who, func.HttpResponse):
            return who
        body = request_body(req)
        if isinstance(body, func.HttpResponse):
            return body
        return json_response(*region().operator.replay(body, caller=who.name))

    return bp
