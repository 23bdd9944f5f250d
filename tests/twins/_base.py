"""What every twin shares: the availability switch and a lock."""

from __future__ import annotations

import threading

from shared.errors import ServiceUnavailable


class Twin:
    """Base of the in-memory twins; ``service`` names the real service in errors."""

    service = "memory"

    def __init__(self) -> None:
        self.available = True
        self.lock = threading.RLock()

    def _check(self) -> None:
        if not self.available:
            raise ServiceUnavailable(self.service, "switched off (in-memory twin)")
