"""Test-session wiring: the project root on ``sys.path``, the test tiers, and the local stack, started
on demand.

Tiers are marked by what a test touches, whatever folder it sits in: a test that requests ``stack``
or ``local_stack`` (directly or through another fixture) is ``integration``; a test that requests
``drill`` (it runs drill scenarios: two region processes on a private stack) is ``drill``. A test
left unmarked that starts a server anyway (listens on a socket, launches a stack service or the
Service Bus endpoint) fails, naming what it started; so ``pytest -m "not integration and not drill"``
is the tier that touches no server.

Only tests that request ``stack`` (or ``local_stack``) start services; unit tests pay nothing. The
stack is reused when it already runs (``make stack-up``, or another test session); services this
session had to start are stopped when the last session using them ends. A service that cannot start
FAILS the run with its name and log tail: a missing local server is never a skip.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # pytest's prepend import mode already does this; other modes do not
    sys.path.insert(0, str(ROOT))

import dev.stack_process  # noqa: E402  (light: stdlib only)
from dev.servicebus.process import EndpointProcess  # noqa: E402
from dev.stack import Stack, StackError, default_port_base  # noqa: E402

#: Fixtures that start the local services: a test requesting one is an integration test.
SERVER_FIXTURES = frozenset({"stack", "local_stack"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test's tier by what it touches (see the module docstring)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "drill" in fixtures:
            item.add_marker(pytest.mark.drill)
        if SERVER_FIXTURES & fixtures:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _no_server_outside_the_integration_tier(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Fail an unmarked test that starts a server (it belongs to the integration tier)."""
    if request.node.get_closest_marker("integration") or request.node.get_closest_marker("drill"):
        yield
        return
    started: list[str] = []

    def noting(what: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started.append(what)
            return call(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(socket.socket, "listen", noting("a listening socket", socket.socket.listen))
    monkeypatch.setattr(dev.stack_process, "launch", noting("a stack service", dev.stack_process.launch))
    monkeypatch.setattr(EndpointProcess, "start", noting("the Service Bus endpoint", EndpointProcess.start))
    yield
    if started:
        pytest.fail(
            f"{request.node.nodeid} starts {', '.join(sorted(set(started)))} but is not in the "
            "integration tier: request the stack fixture, or mark it integration",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def local_stack() -> Iterator[Stack]:
    """The running :class:`dev.stack.Stack` (for fault injection: ``stop_service``/``start_service``)."""
    running = Stack(ROOT, default_port_base())
    session = f"pytest-{os.getpid()}"
    problem = None
    try:
        running.join_session(session)
    except StackError as error:
        problem = str(error)
    if problem is not None:
        pytest.fail(problem, pytrace=False)
    try:
        yield running
    finally:
        running.leave_session(session)


@pytest.fixture(scope="session")
def stack(local_stack: Stack) -> dict[str, str]:
    """The ``.local/stack.env`` keys (``STACK_BLOB_DC04``, ``STACK_REDIS_DC04``, ``STACK_COSMOS``, ...)."""
    return local_stack.env()


@pytest.fixture
def drill() -> Callable[..., dict[str, Any]]:
    """``dev.drill.matrix.execute``: runs scenarios on a private stack it starts (the ``drill`` tier)."""
    from dev.drill.matrix import execute  # noqa: PLC0415 - the drill imports the whole app

    return execute
