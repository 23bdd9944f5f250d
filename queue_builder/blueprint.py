"""QueueBuilder's trigger: a timer (schedule from the ``QUEUE_BUILDER_SCHEDULE`` app setting).

:func:`make_blueprint` takes the region provider from the composition root (``bootstrap``), which this
package never imports: the import graph points from the root to the function packages only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import azure.functions as func

from queue_builder.handler import QueueBuilder
from shared.settings import Settings


class Region(Protocol):
    """What the trigger needs of one region's components."""

    @property
    def settings(self) -> Settings: ...

    @property
    def queue_builder(self) -> QueueBuilder: ...


def make_blueprint(region: Callable[[], Region]) -> func.Blueprint:
    """The timer trigger, calling ``region()`` on each run (the root builds the region once, lazily)."""
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions ships it untyped

    @bp.function_name("queue_builder")
    @bp.timer_trigger(
        arg_name="timer", schedule="%QUEUE_BUILDER_SCHEDULE%", run_on_startup=False, use_monitor=True
    )
    def queue_builder(timer: func.TimerRequest) -> None:
        """Drain MQ; the run ends within ``QUEUE_BUILDER_DRAIN_S``, before the schedule's next tick."""
        current = region()
        current.queue_builder.run(budget_s=current.settings.queue_builder_drain_s)

    return bp
