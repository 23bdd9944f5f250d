"""The operations desk's triggers: the daily reconciliation timer and the desk's HTTP routes.

=====================================  ==================  ===========================================
route                                  app role            what
=====================================  ==================  ===========================================
``GET  /api/trace?message_id=``        Bridge.Reader       every step of one statement
``GET  /api/trace?account=&from=&to=`` Bridge.Reader       an account's statements in a window
``GET  /api/reconciliation``           Bridge.Reader       the latest stored reconciliation report
``POST /api/reconcile``                Bridge.Operator     reconcile ``{"from", "to"}`` now (default 24 h)
``POST /api/resubmit``                 Bridge.Operator     ``{"message_id", "reason", "policy"?}``
``POST /api/resend``                   Bridge.Operator     ``{"message_id", "reason"}`` → pending request
``POST /api/approve``                  Bridge.Approver     ``{"request_id"}`` of another person
``GET  /api/requests?state=``          Bridge.Reader       resubmit/resend/failover requests
``GET  /api/statuspage``               Bridge.Reader       the HTML status page
=====================================  ==================  ===========================================

The routes that change something need a function key too (``x-functions-key``, the CLI sends it). The
two a browser follows — the status page and the trace it links to — are read-only and anonymous at
the key level: Easy Auth signs the browser in, and the principal with ``Bridge.Reader`` is required
all the same. The composition root (``bootstrap.wire_desk``) builds the desk on the region's ports and
the operations journals of both regions' WAL storage accounts (written here, read in both:
``shared.journal.BothRegionsJournal``); :func:`make_blueprint` takes the region provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import azure.functions as func

from shared.errors import TransientError
from shared.journal import OperationsJournal
from watchdog.auth import APPROVER, OPERATOR, READER
from watchdog.controller import Watchdog
from watchdog.desk import Desk, message_id_of
from watchdog.http import json_response, principal, request_body
from watchdog.operator import BadRequest, OperatorApi, time_field
from watchdog.reconcile import LATEST, Reconciler
from watchdog.status_page import CONTENT_SECURITY_POLICY, LiveLists, render
from watchdog.trace import Tracer


@dataclass(frozen=True)
class Ops:
    """The desk of one region: trace, reconciliation, actions."""

    tracer: Tracer
    reconciler: Reconciler
    desk: Desk
    journal: OperationsJournal
    live: LiveLists  # the status page's live FAILED and in-doubt lists


class Region(Protocol):
    """What the Watchdog's and the desk's triggers need of one region's components."""

    @property
    def watchdog(self) -> Watchdog: ...

    @property
    def operator(self) -> OperatorApi: ...

    @property
    def desk(self) -> Ops | None: ...


def desk_of(region: Region) -> Ops | func.HttpResponse:
    """The region's desk, or the 503 answer when it was wired without an operations journal."""
    if region.desk is None:
        return json_response(503, {"error": "the operations desk has no journal in this region"})
    return region.desk


def make_blueprint(region: Callable[[], Region]) -> func.Blueprint:  # noqa: PLR0915 - one closure a route
    """The reconciliation timer and the desk's routes, calling ``region()`` per invocation."""
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions ships it untyped

    def ops(req: func.HttpRequest, role: str) -> tuple[Ops, str] | func.HttpResponse:
        """The desk and the caller's name when the caller holds ``role``; else the answer."""
        who = principal(req, role)
        if isinstance(who, func.HttpResponse):
            return who
        desk = desk_of(region())
        return desk if isinstance(desk, func.HttpResponse) else (desk, who.name)

    @bp.function_name("reconcile_timer")
    @bp.timer_trigger(
        arg_name="timer", schedule="%RECONCILE_SCHEDULE%", run_on_startup=False, use_monitor=True
    )
    def reconcile_timer(timer: func.TimerRequest) -> None:
        """The daily reconciliation of the last 24 hours (stored, summarised, alerted on)."""
        desk = region().desk
        if desk is not None:
            desk.reconciler.daily()

    @bp.function_name("ops_trace")
    @bp.route(route="trace", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def ops_trace(req: func.HttpRequest) -> func.HttpResponse:
        """One statement by ``message_id``, or an account's statements between ``from`` and ``to``."""
        found = ops(req, READER)
        if isinstance(found, func.HttpResponse):
            return found
        desk = found[0]
        message_id, account = req.params.get("message_id"), req.params.get("account")
        if bool(message_id) == bool(account):
            return json_response(400, {"error": "give message_id, or account with from and to"})
        if message_id:
            try:
                message_id = message_id_of({"message_id": message_id})
            except BadRequest as error:
                return json_response(400, {"error": str(error)})
            answer = desk.tracer.trace(message_id)
            return json_response(200 if answer["found"] else 404, answer)
        window = _window(req.params, default_hours=24)
        if isinstance(window, func.HttpResponse):
            return window
        return json_response(200, desk.tracer.trace_account(str(account), *window))

    @bp.function_name("ops_reconciliation")
    @bp.route(route="reconciliation", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    def ops_reconciliation(req: func.HttpRequest) -> func.HttpResponse:
        """The latest stored reconciliation report."""
        found = ops(req, READER)
        if isinstance(found, func.HttpResponse):
            return found
        latest = found[0].journal.read(LATEST)
        if latest is None:
            return json_response(404, {"error": "no reconciliation has run yet; POST /api/reconcile"})
        return json_response(200, latest[0])

    @bp.function_name("ops_reconcile")
    @bp.route(route="reconcile", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
    def ops_reconcile(req: func.HttpRequest) -> func.HttpResponse:
        """Reconcile ``{"from": ISO, "to": ISO}`` now (default: the last 24 hours); the report is stored."""
        found = ops(req, OPERATOR)
        if isinstance(found, func.HttpResponse):
            return found
        body = request_body(req)
        if isinstance(body, func.HttpResponse):
            return body
        window = _window(body, default_hours=24)
        if isinstance(window, func.HttpResponse):
            return window
        return json_response(200, found[0].reconciler.run(*window))

    def action(req: func.HttpRequest, role: str, name: str) -> func.HttpResponse:
        found = ops(req, role)
        if isinstance(found, func.HttpResponse):
            return found
        body = request_body(req)
        if isinstance(body, func.HttpResponse):
            return body
        desk, who = found[0].desk, found[1]
        handler = {"resubmit": desk.resubmit, "resend": desk.request_resend, "approve": desk.approve}[name]
        try:
            return json_response(*handler(body, who))
        except TransientError as error:  # a store or MessageWay is away; the record says where it stopped
            hint = (
                "retry; a delivery interrupted after it started is resumed with approve <request id> "
                "after 60 s"
            )
            return json_response(503, {"error": f"{error}; {hint}"})

    @bp.function_name("ops_resubmit")
    @bp.route(route="resubmit", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
    def ops_resubmit(req: func.HttpRequest) -> func.HttpResponse:
        """Resubmit a FAILED statement (audited; ``policy`` ``strict`` | ``as-sent`` optional)."""
        return action(req, OPERATOR, "resubmit")

    @bp.function_name("ops_resend")
    @bp.route(route="resend", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
    def ops_resend(req: func.HttpRequest) -> func.HttpResponse:
        """Request a resend of a DELIVERED statement (a second person approves)."""
        return action(req, OPERATOR, "resend")

    @bp.function_name("ops_approve")
    @bp.route(route="approve", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
    def ops_approve(req: func.HttpRequest) -> func.HttpResponse:
        """Approve another person's pending resend or forced failover; it executes at once."""
        return action(req, APPROVER, "approve")

    @bp.function_name("ops_requests")
    @bp.route(route="requests", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
    def ops_requests(req: func.HttpRequest) -> func.HttpResponse:
        """The requests, newest first; ``?state=PENDING`` for those waiting for an approver."""
        found = ops(req, READER)
        if isinstance(found, func.HttpResponse):
            return found
        return json_response(*found[0].desk.requests(req.params.get("state") or None))

    @bp.function_name("ops_status_page")
    @bp.route(route="statuspage", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    def ops_status_page(req: func.HttpRequest) -> func.HttpResponse:
        """The read-only HTML status page (Easy Auth signs the browser in; no function key)."""
        who = principal(req, READER)
        if isinstance(who, func.HttpResponse):
            return who
        current = region()
        desk = desk_of(current)
        if isinstance(desk, func.HttpResponse):
            return desk
        _, status = current.operator.status()
        found = desk.journal.read(LATEST)
        _, pending = desk.desk.requests("PENDING")
        waiting = pending["requests"]
        page = render(
            status,
            found[0] if found else None,
            waiting if isinstance(waiting, list) else [],
            desk.live(),
        )
        return func.HttpResponse(
            page,
            status_code=200,
            mimetype="text/html",
            charset="utf-8",
            headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store"},
        )

    return bp


def _window(
    values: Mapping[str, object], default_hours: float
) -> tuple[datetime, datetime] | func.HttpResponse:
    """``[from, to)`` from ISO 8601 values (default: the last ``default_hours`` up to now)."""
    try:
        until = time_field(values, "to") or datetime.now(UTC)
        since = time_field(values, "from") or until - timedelta(hours=default_hours)
        if since >= until:
            raise BadRequest("from must be before to")
        if until - since > timedelta(days=31):
            raise BadRequest("window longer than 31 days; split it")
    except BadRequest as error:
        return json_response(400, {"error": str(error)})
    return since, until
