"""The runner's trigger: Service Bus, sessions enabled, queue and connection named by app settings.

Returning completes the message (``autoCompleteMessages`` in host.json); raising abandons it, so
Service Bus redelivers it and, after MaxDeliveryCount, dead-letters it. In the passive region the
trigger is disabled by the ``AzureWebJobs.transformation_runner.Disabled`` app setting.
:func:`make_blueprint` takes the region provider from the composition root (``bootstrap``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import azure.functions as func

from shared.inbound import to_inbound
from transformation_runner.handler import TransformationRunner


class Region(Protocol):
    """What the trigger needs of one region's components."""

    @property
    def runner(self) -> TransformationRunner: ...


def make_blueprint(region: Callable[[], Region]) -> func.Blueprint:
    """The Service Bus session trigger, calling ``region().runner`` per message."""
    bp = func.Blueprint()  # type: ignore[no-untyped-call]  # azure-functions ships it untyped

    @bp.function_name("transformation_runner")
    @bp.service_bus_queue_trigger(
        arg_name="message",
        queue_name="%ServiceBusQueueName%",
        connection="ServiceBusConnection",
        is_sessions_enabled=True,
    )
    def transformation_runner(message: func.ServiceBusMessage) -> None:
        """Translate and deliver one statement (see ``transformation_runner.handler``)."""
        region().runner.handle(to_inbound(message))

    return bp
