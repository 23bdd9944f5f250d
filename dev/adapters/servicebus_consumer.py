"""Session consumer for the local two-region host (in Azure the Functions host receives instead).

:meth:`ServiceBusSessionConsumer.run` does what the Functions Service Bus trigger does with
``isSessionsEnabled`` (learn.microsoft.com/azure/azure-functions/functions-bindings-service-bus-trigger):
accept the next available session, receive its messages in order, call the handler with each one as an
:class:`~shared.model.InboundStatement`, complete the message when the handler returns and abandon it
when the handler raises (so Service Bus redelivers it, and dead-letters it after MaxDeliveryCount);
the session lock is renewed while the handler runs (``AutoLockRenewer``, 5 minutes like the host's
``maxAutoLockRenewalDuration``), and a session idle for ``idle_s`` is released for the next one.

:meth:`ServiceBusSessionConsumer.dead_letters` browses (peeks) the dead-letter queue for the drill.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from azure.servicebus import NEXT_AVAILABLE_SESSION, AutoLockRenewer, ServiceBusClient, ServiceBusReceiver
from azure.servicebus.exceptions import OperationTimeoutError, ServiceBusError

from shared.adapters.servicebus import build_client, servicebus_errors
from shared.inbound import plain_properties, to_inbound
from shared.model import InboundStatement
from shared.settings import Connection

log = logging.getLogger(__name__)
Handler = Callable[[InboundStatement], object]


@dataclass(frozen=True)
class DeadLetter:
    """One message in the dead-letter queue, as the drill reports it."""

    message_id: str
    session_id: str | None
    reason: str | None
    description: str | None
    delivery_count: int
    sequence_number: int
    properties: dict[str, object]


class ServiceBusSessionConsumer:
    def __init__(
        self,
        connection: Connection,
        queue_name: str,
        *,
        idle_s: float = 3.0,
        max_lock_renewal_s: float = 300.0,
        retry_pause_s: float = 1.0,
    ) -> None:
        self.connection = connection
        self.queue_name = queue_name
        self.idle_s = idle_s
        self.max_lock_renewal_s = max_lock_renewal_s
        self.retry_pause_s = retry_pause_s
        self.completed = 0
        self.abandoned = 0
        self._count_lock = threading.Lock()

    def run(self, handler: Handler, stop: threading.Event, max_sessions: int = 1) -> None:
        """Consume until ``stop`` is set, ``max_sessions`` sessions in parallel (one thread each)."""
        workers = [
            threading.Thread(target=self._worker, args=(handler, stop), name=f"sb-session-{i}", daemon=True)
            for i in range(max_sessions)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def _worker(self, handler: Handler, stop: threading.Event) -> None:
        while not stop.is_set():
            client: ServiceBusClient | None = None
            renewer = AutoLockRenewer(max_lock_renewal_duration=self.max_lock_renewal_s)
            try:
                client = build_client(self.connection, retry_total=0)
                while not stop.is_set():
                    self._one_session(client, renewer, handler, stop)
            except (ServiceBusError, OSError) as error:
                log.warning("Service Bus consumer of %s: %s; reconnecting", self.queue_name, error)
                stop.wait(self.retry_pause_s)
            finally:
                renewer.close()
                if client is not None:
                    client.close()

    def _one_session(
        self, client: ServiceBusClient, renewer: AutoLockRenewer, handler: Handler, stop: threading.Event
    ) -> None:
        try:
            receiver = client.get_queue_receiver(
                self.queue_name,
                session_id=NEXT_AVAILABLE_SESSION,
                max_wait_time=max(1.0, self.idle_s),
                auto_lock_renewer=renewer,
            )
            receiver.__enter__()
        except OperationTimeoutError:
            return  # no session has messages right now
        try:
            self._drain(receiver, handler, stop)
        finally:
            receiver.close()

    def _drain(self, receiver: ServiceBusReceiver, handler: Handler, stop: threading.Event) -> None:
        last_message = time.monotonic()
        while not stop.is_set() and time.monotonic() - last_message < self.idle_s:
            for message in receiver.receive_messages(
                max_message_count=1, max_wait_time=min(1.0, self.idle_s)
            ):
                last_message = time.monotonic()
                try:
                    handler(to_inbound(message))
                except Exception as error:  # the Functions host's rule: an exception abandons the message
                    log.warning("handler failed for %s: %r; abandoning", message.message_id, error)
                    receiver.abandon_message(message)
                    self._count("abandoned")
                else:
                    receiver.complete_message(message)
                    self._count("completed")

    def _count(self, name: str) -> None:
        with self._count_lock:
            setattr(self, name, getattr(self, name) + 1)

    def dead_letters(self, max_count: int = 1000) -> list[DeadLetter]:
        """Browse the dead-letter queue (peek: nothing is removed or locked)."""
        found: list[DeadLetter] = []
        with servicebus_errors(f"peek {self.queue_name}/$DeadLetterQueue"):
            client = build_client(self.connection)
            with client, client.get_queue_receiver(self.queue_name, sub_queue="deadletter") as receiver:
                next_seq = 0
                while len(found) < max_count:
                    page = receiver.peek_messages(
                        max_message_count=min(100, max_count - len(found)), sequence_number=next_seq
                    )
                    if not page:
                        break
                    for message in page:
                        found.append(
                            DeadLetter(
                                message_id=str(message.message_id),
                                session_id=message.session_id,
                                reason=message.dead_letter_reason,
                                description=message.dead_letter_error_description,
                                delivery_count=int(message.delivery_count or 0),
                                sequence_number=int(message.sequence_number or 0),
                                properties=plain_properties(message.application_properties),
                            )
                        )
                    next_seq = int(page[-1].sequence_number or 0) + 1
        return found
