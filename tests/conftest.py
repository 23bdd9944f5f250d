"""Test-session wiring: the project root on ``sys.path`` and the local stack, started on demand.

Only tests that request ``stack`` (or ``local_stack``) start services; unit tests pay nothing. The
stack is reused when it already runs (``make stack-up``, or another test session); services this
session had to start are stopped when the last session using them ends. A service that cannot start
FAILS the run with its name and log tail: a missing local server is never a skip.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # pytest's prepend import mode already does this; other modes do not
    sys.path.insert(0, str(ROOT))

from dev.stack import Stack, StackError, default_port_base  # noqa: E402  (light: stdlib only)


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
