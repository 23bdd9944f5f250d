"""QueueBuilder's trigger: a timer (schedule from the ``QUEUE_BUILDER_SCHEDULE`` app setting)."""

from __future__ import annotations

import azure.functions as func

import bootstrap

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions ships it untyped


@bp.function_name("queue_builder")
@bp.timer_trigger(
    arg_name="timer", schedule="%QUEUE_BUILDER_SCHEDULE%", run_on_startup=False, use_monitor=True
)
def queue_builder(timer: func.TimerRequest) -> None:
    """Drain MQ for a bounded time (``QUEUE_BUILDER_DRAIN_S``, below the schedule's interval)."""
    components = bootstrap.components()
    components.queue_builder.run(budget_s=components.settings.queue_builder_drain_s)
