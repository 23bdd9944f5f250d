"""Unit tests start from a clean slate: zeroed counters, no recent problems."""

from collections.abc import Iterator

import pytest

from shared.telemetry import metrics, recent_events, recent_problems


@pytest.fixture(autouse=True)
def _clean_process_state() -> Iterator[None]:
    metrics.reset()
    recent_problems.clear()
    recent_events.clear()
    yield
    metrics.reset()
