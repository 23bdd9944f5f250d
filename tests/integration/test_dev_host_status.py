"""The local host's readiness answer (dev/http.py ``HOST_STATUS``): the Functions host's
``GET /admin/host/status``, with the key, answered by the host itself, running no function, so a region
coming up costs no Azure operation (the drill used to poll ``GET /api/status``: ~16 Cosmos calls)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from dev.http import HOST_STATUS, serve_routes

pytestmark = pytest.mark.integration  # serves the routes on a local socket

KEY = "local-key"


@pytest.fixture
def base() -> Iterator[tuple[str, list[str]]]:
    called: list[str] = []

    def watchdog_status(request: object) -> object:
        called.append("watchdog_status")
        raise AssertionError("the host status must not run a function")

    server = serve_routes(0, KEY, {"watchdog_status": watchdog_status})
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", called
    finally:
        server.shutdown()


def get(url: str, key: str | None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, headers={"x-functions-key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_host_status_answers_running_without_running_a_function(base: tuple[str, list[str]]) -> None:
    url, called = base
    assert get(url + HOST_STATUS, KEY) == (200, {"state": "Running"})
    assert called == []


def test_the_host_status_needs_the_key(base: tuple[str, list[str]]) -> None:
    url, called = base
    status, answer = get(url + HOST_STATUS, None)
    assert status == 401 and "function key" in str(answer["error"])
    assert called == []
