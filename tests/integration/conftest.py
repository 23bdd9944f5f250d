"""Fixtures the integration tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dev.servicebus.process import EndpointProcess


@pytest.fixture
def endpoint() -> Iterator[EndpointProcess]:
    """A private local Service Bus endpoint (its own process and port) for one test."""
    process = EndpointProcess().start()
    yield process
    process.stop()
