"""Unit tests start from a clean slate: no armed faults, zeroed counters."""

from collections.abc import Iterator

import pytest

from shared import faults
from shared.telemetry import metrics


@pytest.fixture(autouse=True)
def _clean_process_state() -> Iterator[None]:
    faults.disarm()
    metrics.reset()
    yield
    faults.disarm()
    metrics.reset()
