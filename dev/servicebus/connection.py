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
from typing import Any

from azure.servicebus._pyamqp import outcomes
from azure.servicebus._pyamqp import performatives as perf
from azure.servicebus._pyamqp.error import AMQPError

from dev.servicebus import amqp
from dev.servicebus.broker import BrokerError
from dev.servicebus.endpoint import Endpoint
from dev.servicebus.link import MAX_FRAME, SESSION_FILTER, AmqpSession, Link

log = logging.getLogger("dev.servicebus")


def _echo(outcome: str) -> Any:
    if outcome == "release":
        return outcomes.Released()
    return outcomes.Modified(
        delivery_failed=True, undeliverable_here=outcome == "defer", message_annotations=None
    )


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
        if size < 8 or doff < 2 or doff * 4 > size or size > MAX_FRAME:
            raise ConnectionError(f"malformed frame header (size {size}, doff {doff})")  # §2.3.1
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
            link.refuse(
                "amqp:not-found", f"the messaging entity {address!r} could not be found", without_source=True
            )
            return
        if kind == "entity" and client_is_receiver:
            assert queue is not None
            if queue.sessions_enabled:
                link.start_session_receiver(self.endpoint.clock())
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
        now = self.endpoint.clock()
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
