"""The Watchdog's HTTP routes on the local host: what the Functions host does for HTTP triggers.

Requests are turned into ``azure.functions.HttpRequest`` objects and passed to the app's HTTP
functions (``watchdog_status``, ``watchdog_failover``, ``watchdog_replay`` of ``bootstrap.build_app``),
so the local routes run exactly the code Azure runs. Function-level
authorisation is kept: the key goes in ``x-functions-key`` (or ``?code=``), as in Azure.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func

ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/status"): "watchdog_status",
    ("POST", "/api/failover"): "watchdog_failover",
    ("POST", "/api/replay"): "watchdog_replay",
}
MAX_BODY = 64 * 1024


def serve_routes(
    port: int, function_key: str, functions: Mapping[str, Callable[..., Any]]
) -> ThreadingHTTPServer:
    """Serve the :data:`ROUTES` of ``functions`` (by function name) on ``127.0.0.1:port`` in a
    background thread; ``shutdown()`` stops it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def log_message(self, format: str, *args: object) -> None:
            return  # the audit log records every operator call

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            name = ROUTES.get((method, url.path))
            if name is None:
                self._send(404, b'{"error": "no such route"}')
                return
            key = self.headers.get("x-functions-key") or parse_qs(url.query).get("code", [""])[0]
            if not hmac.compare_digest(key.encode(), function_key.encode()):
                self._send(401, b'{"error": "missing or wrong function key (x-functions-key)"}')
                return
            length = min(int(self.headers.get("content-length") or 0), MAX_BODY)
            request = func.HttpRequest(
                method,
                self.path,
                headers=dict(self.headers.items()),
                params={k: v[0] for k, v in parse_qs(url.query).items()},
                body=self.rfile.read(length) if length else b"",
            )
            response: func.HttpResponse = functions[name](request)
            self._send(response.status_code, response.get_body())

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
