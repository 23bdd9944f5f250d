"""Unit tests start from a clean slate: no armed faults, zeroed counters."""

from collections.abc import Iterator

import pytest

from dev import faults
from shared.telemetry import metrics, recent_problems


@pytest.fixture(autouse=True)
def _clean_process_state() -> Iterator[None]:
    faults.disarm()
    metrics.reset()
    recent_problems.clear()
    yield
    faults.disarm()
    metrics.reset()
