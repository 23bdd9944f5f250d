"""Sessions and links of one AMQP 1.0 connection (OASIS AMQP 1.0 part 2, §2.5-2.7), Service Bus flavoured.

A :class:`Link` is one attached link. Client receivers on an entity get messages from its queue while
they have credit (session receivers only after a session is granted: the answering Attach names it in
the ``com.microsoft:session-filter`` source filter and carries ``com.microsoft:locked-until-utc``);
client senders get credit and every transfer they complete is stored (a ``0x80013700`` batch as its
messages, all or nothing) and settled ``accepted``, or ``rejected`` with the broker's error. Links on
``$cbs`` and ``<entity>/$management`` carry request/response pairs (:mod:`dev.servicebus.management`).
"""

from __future__ import annotations

import uuid
from collections import deque
from typing import TYPE_CHECKING, Any

from azure.servicebus._pyamqp import endpoints as amqp_endpoints
from azure.servicebus._pyamqp import outcomes
from azure.servicebus._pyamqp import performatives as perf
from azure.servicebus._pyamqp.error import AMQPError

from dev.servicebus import amqp
from dev.servicebus.broker import BrokerError, Queue, Session
from dev.servicebus.management import handle_cbs, handle_management

if TYPE_CHECKING:
    from dev.servicebus.connection import AmqpConnection

MAX_FRAME = 1024 * 1024
SENDER_CREDIT = 1000
DEFAULT_WAIT_MS = 60_000
SESSION_FILTER = b"com.microsoft:session-filter"
TICKS_EPOCH = 621355968000000000  # .NET DateTime ticks at the Unix epoch


def _source(address: Any, filters: dict[bytes, Any] | None = None) -> Any:
    return amqp_endpoints.Source(
        address=address,
        durable=None,
        expiry_policy=None,
        timeout=None,
        dynamic=None,
        dynamic_node_properties=None,
        distribution_mode=None,
        filters=filters,
        default_outcome=None,
        outcomes=None,
        capabilities=None,
    )


def _target(address: Any) -> Any:
    return amqp_endpoints.Target(
        address=address,
        durable=None,
        expiry_policy=None,
        timeout=None,
        dynamic=None,
        dynamic_node_properties=None,
        capabilities=None,
    )


class AmqpSession:
    def __init__(self, conn: AmqpConnection, channel: int, remote_channel: int) -> None:
        self.conn, self.channel, self.remote_channel = conn, channel, remote_channel
        self.links: dict[int, Link] = {}  # by the client's handle
        self.next_delivery_id = 0
        self.unsettled: dict[int, tuple[Link, uuid.UUID]] = {}  # our delivery id -> link, lock token

    def send(self, frame: Any) -> None:
        self.conn.send(frame, self.channel)


class Link:
    """One attached link. ``outgoing`` links carry messages from the endpoint to the client."""

    def __init__(self, session: AmqpSession, attach: list[Any], kind: str, queue: Queue | None) -> None:
        self.session, self.kind, self.queue = session, kind, queue
        self.name, self.remote_handle, client_is_receiver = attach[0], attach[1], bool(attach[2])
        self.handle = attach[1]
        self.outgoing = client_is_receiver
        self.settled_mode = attach[3] == 1  # snd-settle-mode settled = receive-and-delete
        self.source, self.target = attach[5], attach[6]
        self.properties = attach[13] or {}
        self.credit = 0
        self.delivery_count = 0
        self.pending: deque[bytes] = deque()  # management / CBS replies waiting for credit
        self.session_lock: Session | None = None
        self.requested_session: str | None = None  # None = next available
        self.wait_until_ms = 0
        self.partial = bytearray()
        self.partial_meta: tuple[int, int, bool] | None = None
        self.attached = False
        self.received = 0

    @property
    def delivers_messages(self) -> bool:
        return self.attached and self.outgoing and self.kind == "entity"

    def wants_session(self) -> bool:
        return self.delivers_messages and self.queue is not None and self.queue.sessions_enabled

    # --- attach ---------------------------------------------------------------------------------

    def answer_attach(
        self, filters: dict[bytes, Any] | None = None, properties: dict[bytes, Any] | None = None
    ) -> None:
        if filters is None and self.source:
            filters = self.source[7]
        source = _source(self.source[0], filters) if self.source else None
        target = _target(self.target[0]) if self.target else _target(None)
        max_size = self.queue.config.max_message_bytes if self.queue is not None else MAX_FRAME
        self.session.send(
            perf.AttachFrame(
                name=self.name,
                handle=self.handle,
                role=not self.outgoing,
                send_settle_mode=1 if self.settled_mode else 0,
                rcv_settle_mode=1,
                source=source,
                target=target,
                unsettled=None,
                incomplete_unsettled=None,
                initial_delivery_count=0 if self.outgoing else None,
                max_message_size=max_size,
                offered_capabilities=None,
                desired_capabilities=None,
                properties=properties,
            )
        )
        self.attached = True
        if not self.outgoing:
            self.grant_credit()

    def refuse(self, condition: str, description: str, without_source: bool = False) -> None:
        """Answer a refused attach with an Attach, then a Detach carrying the error (as Service Bus does).

        ``without_source`` sends the Attach with a null source, which the SDK treats as a failed open
        (and retries); otherwise the SDK sees the link open and raises the detach's error at once.
        """
        if without_source:
            self.source = None
        self.answer_attach(properties={b"com.microsoft:tracking-id": amqp.string(str(uuid.uuid4()))})
        self.detach(condition, description)

    def grant_credit(self) -> None:
        """Open the client sender's window again (a receiving link: the flow counts what we received)."""
        self.credit = SENDER_CREDIT
        self.send_flow()

    def start_session_receiver(self, now: int) -> None:
        filters = self.source[7] or {}
        if SESSION_FILTER not in filters:
            self.refuse("amqp:not-allowed", f"{self.queue and self.queue.name} requires a session receiver")
            return
        requested = amqp.text(filters[SESSION_FILTER])
        timeout_ms = self.properties.get(b"com.microsoft:timeout") or DEFAULT_WAIT_MS
        self.wait_until_ms = now + int(timeout_ms)
        self.requested_session = requested
        endpoint = self.session.conn.endpoint
        endpoint.waiting.append(self)
        self.try_acquire_session(now)

    def try_acquire_session(self, now: int) -> None:
        endpoint = self.session.conn.endpoint
        assert self.queue is not None
        try:
            session = self.queue.acquire_session(self, self.requested_session, now)
        except BrokerError as error:
            endpoint.waiting.remove(self)
            self.refuse(error.condition, error.description)
            return
        if session is None:
            return
        endpoint.waiting.remove(self)
        self.session_lock = session
        ticks = TICKS_EPOCH + session.locked_until_ms * 10_000
        self.answer_attach(
            filters={SESSION_FILTER: session.session_id},
            properties={b"com.microsoft:locked-until-utc": amqp.long(ticks)},
        )
        endpoint.links.add(self)

    def check_wait_timeout(self, now: int) -> None:
        if now >= self.wait_until_ms:
            self.session.conn.endpoint.waiting.remove(self)
            self.refuse(
                "com.microsoft:timeout",
                "no session became available within the operation timeout",
                without_source=True,
            )

    def lose_session(self) -> None:
        self.session_lock = None
        self.detach("com.microsoft:session-lock-lost", "the session lock expired")

    # --- flow and delivery ----------------------------------------------------------------------

    def on_flow(self, fields: list[Any]) -> None:
        remote_count = fields[5] if fields[5] is not None else self.delivery_count
        self.credit = max(0, remote_count + (fields[6] or 0) - self.delivery_count)
        if self.outgoing:
            self.flush_pending()
            if self.delivers_messages:
                self.deliver_available(self.session.conn.endpoint.clock())
            if fields[8]:  # drain: use up the credit now
                self.delivery_count += self.credit
                self.credit = 0
                self.send_flow()
        if fields[9]:
            self.send_flow()

    def send_flow(self) -> None:
        self.session.send(
            perf.FlowFrame(
                next_incoming_id=None,
                incoming_window=0xFFFFFFF,
                next_outgoing_id=self.session.next_delivery_id,
                outgoing_window=0xFFFFFFF,
                handle=self.handle,
                delivery_count=self.delivery_count if self.outgoing else self.received,
                link_credit=self.credit,
                available=None,
                drain=None,
                echo=None,
                properties=None,
            )
        )

    def reply(self, payload: bytes) -> None:
        self.pending.append(payload)
        self.flush_pending()

    def flush_pending(self) -> None:
        while self.pending and self.credit > 0 and self.attached:
            self.transfer(self.pending.popleft(), uuid.uuid4(), settled=True)

    def deliver_available(self, now: int) -> None:
        assert self.queue is not None
        if self.wants_session() and self.session_lock is None:
            return
        while self.credit > 0:
            message = self.queue.next_message(self.session_lock, self, now)
            if message is None:
                return
            assert message.lock_token is not None
            token = message.lock_token
            payload = message.encode(with_lock=not self.settled_mode)
            if self.settled_mode:
                self.queue.settle(token, "complete", now)
            self.transfer(payload, token, settled=self.settled_mode)

    def transfer(self, payload: bytes, token: uuid.UUID, settled: bool) -> None:
        session = self.session
        delivery_id = session.next_delivery_id
        session.next_delivery_id += 1
        self.credit -= 1
        self.delivery_count += 1
        if not settled:
            session.unsettled[delivery_id] = (self, token)
        chunk = max(512, session.conn.remote_max_frame - 512)
        for start in range(0, max(len(payload), 1), chunk):
            first = start == 0
            session.send(
                perf.TransferFrame(
                    handle=self.handle,
                    delivery_id=delivery_id if first else None,
                    delivery_tag=token.bytes_le if first else None,
                    message_format=0 if first else None,
                    settled=settled if first else None,
                    more=start + chunk < len(payload),
                    rcv_settle_mode=None,
                    state=None,
                    resume=None,
                    aborted=None,
                    batchable=None,
                    payload=payload[start : start + chunk],
                )
            )

    # --- incoming transfers -----------------------------------------------------------------------

    def on_transfer(self, fields: list[Any]) -> None:
        if self.partial_meta is None:
            self.partial_meta = (fields[1], fields[3] or 0, bool(fields[4]))
        self.partial += bytes(fields[-1])
        if fields[5]:  # more
            return
        delivery_id, message_format, settled = self.partial_meta
        payload, self.partial, self.partial_meta = bytes(self.partial), bytearray(), None
        self.received += 1
        self.credit -= 1
        state: Any = outcomes.Accepted()
        try:
            try:
                self.accept(payload, message_format)
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
                raise BrokerError("amqp:decode-error", f"cannot decode the message: {error}") from error
        except BrokerError as error:
            state = outcomes.Rejected(
                error=AMQPError(condition=error.condition.encode(), description=error.description)
            )
        if not settled:
            self.session.send(
                perf.DispositionFrame(
                    role=True, first=delivery_id, last=delivery_id, settled=True, state=state, batchable=None
                )
            )
        if self.credit < SENDER_CREDIT // 2:
            self.grant_credit()
        self.session.conn.endpoint.pump()

    def accept(self, payload: bytes, message_format: int) -> None:
        conn = self.session.conn
        if self.kind == "cbs":
            conn.reply_on(self, handle_cbs(amqp.decode_message(payload)))
            return
        if self.queue is None:
            raise BrokerError("amqp:not-found", "no such entity")
        if self.kind == "management":
            request = amqp.decode_message(payload)
            self.queue.counters["management"] += 1
            conn.reply_on(self, handle_management(self.queue, request, conn, conn.endpoint.clock()))
            return
        self.queue.counters["send_operations"] += 1
        if len(payload) > self.queue.config.max_message_bytes:
            raise BrokerError(
                "amqp:link:message-size-exceeded", f"message of {len(payload)} bytes is too large"
            )
        now = self.session.conn.endpoint.clock()
        if message_format == amqp.BATCH_FORMAT:
            inner = [amqp.section_value(s) for s in amqp.split_sections(payload) if s.code == amqp.DATA]
            for raw in inner:  # validate every message before storing any: a batch is all or nothing
                self.queue.check_sendable(bytes(raw))
            for raw in inner:
                self.queue.enqueue(bytes(raw), now)
        else:
            self.queue.enqueue(payload, now)

    # --- detach -----------------------------------------------------------------------------------

    def detach(self, condition: str | None = None, description: str = "") -> None:
        error = AMQPError(condition=condition.encode(), description=description) if condition else None
        self.session.send(perf.DetachFrame(handle=self.handle, closed=True, error=error))
        self.release()

    def release(self, lost: bool = False) -> None:
        """Forget this link: its session lock ends and its unsettled session messages come back.

        ``lost`` (the connection dropped) counts them as failed deliveries (delivery count + 1), as a
        lock expiry would; a client that detaches or ends the session in order gives them back uncounted
        (the SDK releases what it prefetched, and a message in flight at close was never handed out).
        """
        self.attached = False
        endpoint = self.session.conn.endpoint
        endpoint.links.discard(self)
        if self in endpoint.waiting:
            endpoint.waiting.remove(self)
        if self.queue is not None and self.session_lock is not None:
            self.queue.release_session(self, self.session.conn.endpoint.clock(), lost=lost)
            self.session_lock = None
