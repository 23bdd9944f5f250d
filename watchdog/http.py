"""What every operator route does first and last: authorise the platform's principal, read the JSON
body (bounded), answer JSON. Bad requests get a 4xx with a reason and change nothing."""

from __future__ import annotations

import json

import azure.functions as func

from watchdog.auth import Denied, Principal, authorise

MAX_REQUEST_BYTES = 4096


def principal(req: func.HttpRequest, role: str) -> Principal | func.HttpResponse:
    """The caller if it holds ``role``; else the 401/403/503 answer to return as it is."""
    try:
        return authorise(dict(req.headers.items()), role)
    except Denied as denied:
        return json_response(denied.status, {"error": denied.reason})


def request_body(req: func.HttpRequest) -> dict[str, object] | func.HttpResponse:
    """The request's JSON object (``{}`` when empty); else the 400/413 answer."""
    raw = req.get_body() or b"{}"
    if len(raw) > MAX_REQUEST_BYTES:
        return json_response(413, {"error": f"request body over {MAX_REQUEST_BYTES} bytes"})
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return json_response(400, {"error": "request body is not JSON"})
    if not isinstance(body, dict):
        return json_response(400, {"error": "request body must be a JSON object"})
    return body


def json_response(status: int, body: object) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json")
