"""One AMQP 1.0 connection (OASIS AMQP 1.0 part 2: transport; part 5: SASL) as Service Bus speaks it.

Frames are handled strictly in arrival order, so a client may pipeline Begin and Attach before the
server's Open/Begin arrive (the SDK does). SASL offers ANONYMOUS/PLAIN/MSSBCBS and accepts anything;
the CBS put-token on ``$cbs`` is always accepted (status-code 202) — the endpoint is loopback-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import uuid
from collections import deque
from typing import Any

from azure.servicebus._pyamqp import endpoints as amqp_endpoints
from azure.servicebus._pyamqp import outcomes
from azure.servicebus._pyamqp import performatives as perf
from azure.servicebus._pyamqp.error import AMQPError

from local.servicebus import amqp
from local.servicebus.broker import BrokerError, Queue, Session
from local.servicebus.endpoint import Endpoint, now_ms
from local.servicebus.management import handle_cbs, handle_management

log = logging.getLogger("local.servicebus")

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


def _echo(outcome: str) -> Any:
    if outcome == "release":
        return outcomes.Released()
    return outcomes.Modified(
        delivery_failed=True, undeliverable_here=outcome == "defer", message_annotations=None
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
        self.wait_until_ms = 0
        self.partial = bytearray()
        self.partial_meta: tuple[int, int, bool] | None = None
        self.attached = False
        self.received = 0

    @property
    def delivers_messages(self) -> bool:
        return self.attached and self.outgoing and self.kind == "entity"

    @property
    def address(self) -> Any:
        return (self.source if self.outgoing else self.target)[0]

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
        self.credit = SENDER_CREDIT
        self.session.send(
            perf.FlowFrame(
                next_incoming_id=None,
                incoming_window=0xFFFFFFF,
                next_outgoing_id=self.session.next_delivery_id,
                outgoing_window=0xFFFFFFF,
                handle=self.handle,
                delivery_count=self.received,
                link_credit=self.credit,
                available=None,
                drain=None,
                echo=None,
                properties=None,
            )
        )

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
                self.deliver_available(now_ms())
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
            self.accept(payload, message_format)
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
            conn.reply_on(self, handle_management(self.queue, request, conn, now_ms()))
            return
        self.queue.counters["send_operations"] += 1
        if len(payload) > self.queue.config.max_message_bytes:
            raise BrokerError(
                "amqp:link:message-size-exceeded", f"message of {len(payload)} bytes is too large"
            )
        now = now_ms()
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
            self.queue.release_session(self, now_ms(), lost=lost)
            self.session_lock = None


class AmqpConnection:
    def __init__(
        self, endpoint: Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.endpoint, self.reader, self.writer = endpoint, reader, writer
        self.sessions: dict[int, AmqpSession] = {}  # by the client's channel
        self.remote_max_frame = 512
        self.heartbeat: asyncio.Task[None] | None = None

    def send(self, frame: Any, channel: int = 0, frame_type: int = amqp.FRAME_AMQP) -> None:
        self.writer.write(amqp.encode_frame(frame, channel, frame_type))

    async def read_frame(self) -> tuple[int, int, memoryview | None]:
        head = await self.reader.readexactly(8)
        size, doff, frame_type, channel = struct.unpack(">IBBH", head)
        body = await self.reader.readexactly(size - 8)
        if size == doff * 4:
            return frame_type, channel, None
        return frame_type, channel, memoryview(body)[doff * 4 - 8 :]

    async def serve(self) -> None:
        try:
            header = await self.reader.readexactly(8)
            if header == amqp.SASL_HEADER:
                await self.sasl()
                header = await self.reader.readexactly(8)
            if header != amqp.AMQP_HEADER:
                self.writer.write(amqp.AMQP_HEADER)
                return
            self.writer.write(amqp.AMQP_HEADER)
            while True:
                _, channel, body = await self.read_frame()
                if body is None:
                    continue  # heartbeat
                code, fields = amqp.decode_performative(body)
                if not self.dispatch(code, channel, fields):
                    break
                await self.writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except Exception:  # one broken client must never take the endpoint down
            log.exception("connection failed")
        finally:
            self.cleanup()

    async def sasl(self) -> None:
        self.writer.write(amqp.SASL_HEADER)
        mechanisms = perf.SASLMechanism(sasl_server_mechanisms=[b"ANONYMOUS", b"PLAIN", b"MSSBCBS"])
        self.send(mechanisms, frame_type=amqp.FRAME_SASL)
        await self.read_frame()  # sasl-init: every mechanism and credential is accepted
        self.send(perf.SASLOutcome(code=0, additional_data=None), frame_type=amqp.FRAME_SASL)
        await self.writer.drain()

    def dispatch(self, code: int, channel: int, fields: list[Any]) -> bool:
        if code == 0x10:  # open
            self.remote_max_frame = min(fields[2] or MAX_FRAME, MAX_FRAME)
            self.send(
                perf.OpenFrame(
                    container_id="local-servicebus",
                    hostname=None,
                    max_frame_size=MAX_FRAME,
                    channel_max=65535,
                    idle_timeout=None,
                    outgoing_locales=None,
                    incoming_locales=None,
                    offered_capabilities=None,
                    desired_capabilities=None,
                    properties=None,
                )
            )
            if fields[4]:
                self.heartbeat = asyncio.ensure_future(self.beat(fields[4] / 2000))
            return True
        if code == 0x18:  # close
            self.send(perf.CloseFrame(error=None))
            return False
        if code == 0x11:  # begin
            session = AmqpSession(self, channel, channel)
            self.sessions[channel] = session
            session.send(
                perf.BeginFrame(
                    remote_channel=channel,
                    next_outgoing_id=0,
                    incoming_window=0xFFFFFFF,
                    outgoing_window=0xFFFFFFF,
                    handle_max=0xFFFF,
                    offered_capabilities=None,
                    desired_capabilities=None,
                    properties=None,
                )
            )
            return True
        current = self.sessions.get(channel)
        if current is None:
            return True
        return self.dispatch_in_session(code, current, fields)

    def dispatch_in_session(self, code: int, session: AmqpSession, fields: list[Any]) -> bool:
        if code == 0x12:
            self.on_attach(session, fields)
        elif code == 0x13:
            if fields[4] is not None and fields[4] in session.links:
                session.links[fields[4]].on_flow(fields)
        elif code == 0x14:
            link = session.links.get(fields[0])
            if link is not None:
                link.on_transfer(fields)
        elif code == 0x15:
            self.on_disposition(session, fields)
        elif code == 0x16:
            link = session.links.pop(fields[0], None)
            if link is not None:
                if link.attached:
                    session.send(perf.DetachFrame(handle=link.handle, closed=True, error=None))
                link.release()
                self.endpoint.pump()
        elif code == 0x17:
            for link in session.links.values():
                link.release()
            del self.sessions[session.remote_channel]
            session.send(perf.EndFrame(error=None))
            self.endpoint.pump()
        return True

    def on_attach(self, session: AmqpSession, fields: list[Any]) -> None:
        client_is_receiver = bool(fields[2])
        terminus = fields[5] if client_is_receiver else fields[6]
        address = amqp.text(terminus[0]) if terminus else ""
        kind, queue = self.endpoint.resolve(address or "")
        link = Link(session, fields, kind, queue)
        session.links[link.remote_handle] = link
        if kind != "cbs" and queue is None:
            link.refuse("amqp:not-found", f"the messaging entity {address!r} could not be found")
            return
        if kind == "entity" and client_is_receiver:
            assert queue is not None
            if queue.sessions_enabled:
                link.start_session_receiver(now_ms())
                return
            if (fields[5][7] or {}).get(SESSION_FILTER, None) is not None:
                link.refuse("amqp:not-allowed", f"{queue.name} is not session-enabled")
                return
            self.endpoint.links.add(link)
        link.answer_attach()

    def on_disposition(self, session: AmqpSession, fields: list[Any]) -> None:
        if not fields[0]:
            return  # from the client as sender: nothing for the endpoint to do
        first = fields[1]
        last = fields[2] if fields[2] is not None else first
        state = fields[4] or {}
        outcome, reason, description = "release", "", ""
        if "accepted" in state:
            outcome = "complete"
        elif "modified" in state:
            delivery_failed, undeliverable = [*state["modified"], None, None][:2]
            outcome = "defer" if undeliverable else ("abandon" if delivery_failed else "release")
        elif "rejected" in state:
            outcome = "dead-letter"
            error = (state["rejected"] or [None])[0] or [None, None, None]
            info = error[2] if len(error) > 2 and error[2] else {}
            reason = amqp.text(info.get(b"DeadLetterReason")) or ""
            description = amqp.text(info.get(b"DeadLetterErrorDescription")) or ""
        now = now_ms()
        for delivery_id in range(first, last + 1):
            entry = session.unsettled.pop(delivery_id, None)
            if entry is None:
                continue
            link, token = entry
            if link.queue is not None:
                link.queue.counters["settlements"] += 1
            echo: Any = outcomes.Accepted()
            try:
                assert link.queue is not None
                link.queue.settle(token, outcome, now, reason, description)
                if outcome == "dead-letter":
                    echo = outcomes.Rejected(error=None)
                elif outcome != "complete":
                    echo = _echo(outcome)
            except BrokerError as error:
                echo = outcomes.Rejected(
                    error=AMQPError(condition=error.condition.encode(), description=error.description)
                )
            session.send(
                perf.DispositionFrame(
                    role=False, first=delivery_id, last=delivery_id, settled=True, state=echo, batchable=None
                )
            )
        self.endpoint.pump()

    def reply_on(self, request_link: Link, payload: bytes) -> None:
        """Send a $cbs/$management response on the client's receiver link for the same node."""
        for link in request_link.session.links.values():
            if link.outgoing and link.kind == request_link.kind and link.queue is request_link.queue:
                link.reply(payload)
                return
        for session in self.sessions.values():
            for link in session.links.values():
                if link.outgoing and link.kind == request_link.kind and link.queue is request_link.queue:
                    link.reply(payload)
                    return

    async def beat(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.writer.write(amqp.encode_frame(None, 0))

    def cleanup(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        for session in self.sessions.values():
            for link in session.links.values():
                link.release(lost=True)
        self.sessions.clear()
        with contextlib.suppress(Exception):
            self.writer.close()
        self.endpoint.pump()
