"""Service Bus adapter of :class:`shared.ports.StatementPublisher` (azure-servicebus, AMQP 1.0).

Each :class:`~shared.model.OutboundStatement` becomes one message: ``MessageId`` = the message id (the
queue's duplicate detection drops a repeat within its window), ``SessionId`` = the account (order per
session), application properties ``wal_name`` (the WAL segment), ``wal_offset``, ``wal_size``,
``wal_sha256`` (where the body lies in that segment and its SHA-256), ``epoch``, ``sequence``,
``region``, ``claim_check``. A body larger than ``claim_check_bytes`` is not sent: the message carries
an empty body and ``claim_check=True``, and the runner reads the body by a ranged read of the segment,
checked against ``wal_sha256`` (the "claim check" pattern; Service Bus Standard caps a message at
256 KB). :mod:`shared.inbound` reads the same properties back.

Messages are sent in the given order in as few batches as fit, a batch mixing sessions: the queue is
not partitioned (``infra/modules/servicebus-pairing.bicep``: ``enablePartitioning: false``, and a
Premium namespace with ``premiumMessagingPartitions: 1``), and only a partitioned entity requires one
partition key, i.e. one session, per batch ("When called on partitioned entities, messages meant for
different partitions cannot be batched together", learn.microsoft.com, ``QueueClient.SendAsync``).
Service Bus enqueues a batch's messages in batch order and batches are sent one after the other, so
each session receives its messages in the given order. If a later batch fails after an earlier one
was sent, the call raises and the caller's retry re-sends everything: duplicate detection drops the
repeats, so nothing is half-sent from the queue's point of view.

Errors: connection loss, timeouts, authentication and every other ``ServiceBusError`` →
:class:`ServiceUnavailable` ``("servicebus", ...)`` (a missing or disabled entity included: an operator
can fix it and the retry then succeeds); a message too large for the entity even after the claim check
→ :class:`MessageTooLarge`; a message the service refuses as such (``amqp:not-allowed``,
``amqp:decode-error``, argument errors) → :class:`PublishRejected` (both ``PermanentError``).
The client and sender stay open across calls and are rebuilt after any failure.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusMessageBatch, ServiceBusSender
from azure.servicebus.exceptions import MessageSizeExceededError, ServiceBusError

from shared.errors import PermanentError, ServiceUnavailable
from shared.inbound import statement_properties
from shared.model import OutboundStatement
from shared.ports import StatementPublisher
from shared.settings import Connection, Settings

SERVICE = "servicebus"
DEFAULT_TIMEOUT_S = 10.0
#: Bytes kept free in every batch. azure-servicebus (7.15.0) sizes a batch without the envelope
#: properties it copies from the batch's first message (message id and session id, up to 128
#: characters each), so a batch filled to the link's limit goes over it by that much once encoded
#: and the service refuses it (``amqp:link:message-size-exceeded``), send after send.
BATCH_HEADROOM_BYTES = 1024


class MessageTooLarge(PermanentError):
    """A statement does not fit in one Service Bus message even with its body left out."""

    reason = "message-too-large"

    def __init__(self, message_id: str, detail: str) -> None:
        super().__init__(f"message {message_id!r} is too large for Service Bus: {detail}")
        self.message_id = message_id


def build_client(connection: Connection, retry_total: int = 2, **options: Any) -> ServiceBusClient:
    """A client from a local connection string, or from ``fullyQualifiedNamespace`` + managed identity."""
    if connection.connection_string:
        return ServiceBusClient.from_connection_string(
            connection.connection_string, retry_total=retry_total, retry_backoff_factor=0.5, **options
        )
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415  (only in Azure)

    namespace = (connection.endpoint or "").removeprefix("sb://").removeprefix("https://").rstrip("/")
    return ServiceBusClient(
        namespace, DefaultAzureCredential(), retry_total=retry_total, retry_backoff_factor=0.5, **options
    )


class PublishRejected(PermanentError):
    """Service Bus refused the message itself (not the connection): retrying the same message cannot help."""

    reason = "publish-rejected"

    def __init__(self, what: str, condition: str, detail: str) -> None:
        super().__init__(f"Service Bus rejected {what} ({condition}): {detail}")
        self.condition = condition


# AMQP and Service Bus error conditions that blame the message, not the service (OASIS AMQP 1.0 §2.8.15;
# learn.microsoft.com/azure/service-bus-messaging/service-bus-amqp-troubleshoot).
_REJECTING_CONDITIONS = frozenset(
    {
        "amqp:not-allowed",
        "amqp:decode-error",
        "amqp:invalid-field",
        "com.microsoft:argument-error",
        "com.microsoft:argument-out-of-range",
    }
)


@contextmanager
def servicebus_errors(what: str) -> Iterator[None]:
    """Re-raise SDK and socket errors as the project's errors (see the module docstring)."""
    try:
        yield
    except MessageSizeExceededError as error:
        raise MessageTooLarge(what, str(error).splitlines()[0][:300]) from error
    except ServiceBusError as error:
        condition = str(getattr(error, "_condition", "") or "")
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        if type(error) is ServiceBusError and condition in _REJECTING_CONDITIONS:
            raise PublishRejected(what, condition, detail) from error
        raise ServiceUnavailable(SERVICE, f"{what}: {type(error).__name__}: {detail}") from error
    except (OSError, TimeoutError) as error:
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise ServiceUnavailable(SERVICE, f"{what}: {type(error).__name__}: {detail}") from error


def to_message(statement: OutboundStatement, claim_check_bytes: int) -> ServiceBusMessage:
    """The Service Bus message for ``statement`` (empty body and ``claim_check=True`` above the threshold)."""
    claim_check = len(statement.body) > claim_check_bytes
    return ServiceBusMessage(
        b"" if claim_check else statement.body,
        message_id=statement.message_id,
        session_id=statement.session_id,
        application_properties=statement_properties(statement, claim_check),  # type: ignore[arg-type]
    )


class ServiceBusStatementPublisher(StatementPublisher):
    """Publishes statements to one queue; thread-safe (one sender, used under a lock)."""

    def __init__(
        self,
        connection: Connection,
        queue_name: str,
        *,
        claim_check_bytes: int = 196_608,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.connection = connection
        self.queue_name = queue_name
        self.claim_check_bytes = claim_check_bytes
        self.timeout_s = timeout_s
        self.batches_sent = 0
        self._lock = threading.Lock()
        self._client: ServiceBusClient | None = None
        self._sender: ServiceBusSender | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceBusStatementPublisher:
        return cls(settings.servicebus, settings.queue_name, claim_check_bytes=settings.claim_check_bytes)

    def publish(self, statements: list[OutboundStatement]) -> None:
        if not statements:
            return
        messages = [to_message(s, self.claim_check_bytes) for s in statements]
        with self._lock:
            try:
                with servicebus_errors(f"send to {self.queue_name}"):
                    sender = self._open_sender()
                    for batch in self._batches(sender, messages):
                        sender.send_messages(batch, timeout=self.timeout_s)
                        self.batches_sent += 1
            except BaseException:
                self._reset()
                raise

    def probe(self) -> str:
        """Open a sender link to the queue on a new connection, then close it: the namespace
        answers, this identity may send (the CBS token is accepted) and the queue exists. Nothing is
        sent, and the publisher's own link is left alone."""
        what = f"probe {self.queue_name}"
        with (
            servicebus_errors(what),
            build_client(self.connection, retry_total=0) as client,
            client.get_queue_sender(self.queue_name, socket_timeout=self.timeout_s),
        ):
            return "sender link opened"

    def _batches(
        self, sender: ServiceBusSender, messages: list[ServiceBusMessage]
    ) -> list[ServiceBusMessageBatch]:
        """Fill batches in the given order, each as full as the link's size limit less
        :data:`BATCH_HEADROOM_BYTES` allows (see the module docstring for why sessions may share a
        batch)."""
        limit = sender.create_message_batch().max_size_in_bytes - BATCH_HEADROOM_BYTES
        batches: list[ServiceBusMessageBatch] = []
        current: ServiceBusMessageBatch | None = None
        for message in messages:
            if current is not None:
                try:
                    current.add_message(message)
                    continue
                except MessageSizeExceededError:
                    pass  # full: start the next batch
            current = sender.create_message_batch(max_size_in_bytes=limit)
            batches.append(current)
            with servicebus_errors(str(message.message_id)):
                current.add_message(message)
        return batches

    def _open_sender(self) -> ServiceBusSender:
        if self._sender is None:
            self._client = build_client(self.connection)
            self._sender = self._client.get_queue_sender(self.queue_name)
            self._sender.__enter__()
        return self._sender

    def _reset(self) -> None:
        """Drop the sender and client so the next call reconnects (after an error, or on close)."""
        sender, client, self._sender, self._client = self._sender, self._client, None, None
        for closable in (sender, client):
            if closable is not None:
                try:
                    closable.close()
                except Exception:  # noqa: S112  (closing a broken connection may fail; it is gone either way)
                    continue

    def close(self) -> None:
        with self._lock:
            self._reset()
