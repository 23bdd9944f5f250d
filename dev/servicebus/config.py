"""Queues of the local Service Bus endpoint, declared by its own configuration.

``ServiceBusAdministrationClient`` speaks HTTPS/ATOM, not AMQP, so a local endpoint declares its
queues up front. The JSON file is ``{"queues": [{"name": "statements", "requires_session": true,
"lock_duration_s": 30, "max_delivery_count": 10, "dup_window_s": 600}]}``; omitted fields take the
Service Bus defaults below, except ``requires_session`` (true: the bridge's queue is session-enabled).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

DEFAULT_QUEUE = "statements"


@dataclass(frozen=True)
class QueueConfig:
    """One queue's properties, named as in the Service Bus queue description."""

    name: str = DEFAULT_QUEUE
    requires_session: bool = True
    lock_duration_s: float = 30.0  # LockDuration (Service Bus default 1 min; the bridge uses 30 s)
    max_delivery_count: int = 10  # MaxDeliveryCount
    dup_window_s: float = 600.0  # DuplicateDetectionHistoryTimeWindow (default 10 min)
    max_message_bytes: int = 262_144  # Standard tier message size limit (256 KB)

    @property
    def lock_ms(self) -> int:
        return int(self.lock_duration_s * 1000)

    def validate(self) -> QueueConfig:
        problems = []
        if not self.name or "/" in self.name:
            problems.append(f"queue name {self.name!r} is empty or contains '/'")
        if self.lock_duration_s <= 0 or self.max_delivery_count < 1 or self.dup_window_s <= 0:
            problems.append(f"queue {self.name!r}: durations and MaxDeliveryCount must be positive")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> list[QueueConfig]:
    """Queues from the JSON file (or the one default queue); ``overrides`` apply to the default queue."""
    known = {f.name for f in fields(QueueConfig)}
    entries: list[dict[str, Any]] = [{}]
    if path is not None:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        entries = list(document.get("queues", []))
    queues = []
    for entry in entries:
        unknown = set(entry) - known
        if unknown:
            raise ValueError(f"unknown queue properties {sorted(unknown)} in {path}")
        values = dict(entry)
        if values.get("name", DEFAULT_QUEUE) == DEFAULT_QUEUE and overrides:
            values.update({k: v for k, v in overrides.items() if v is not None})
        queues.append(QueueConfig(**values).validate())
    return queues
