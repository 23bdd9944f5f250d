"""The queue semantics of the local Service Bus endpoint, free of any networking.

Modelled on Azure Service Bus (Standard tier) as documented in "Message sessions", "Message transfers,
locks, and settlement", "Duplicate detection" and "Dead-letter queues" (learn.microsoft.com/azure/
service-bus-messaging):

* sequence numbers grow by one per entity; sessions (``group-id``) deliver FIFO, one owner per session;
* peek-lock: a delivered message is locked for ``lock_duration_s``; an expired lock, an abandon or a
  lost session lock makes it available again with ``delivery_count`` + 1 (the AMQP header field, which
  counts earlier failed attempts: 0 on the first delivery); reaching ``max_delivery_count`` moves it to
  the dead-letter queue with reason ``MaxDeliveryCountExceeded``;
* duplicate detection keys on MessageId only and drops a repeat within the window silently;
* deferred messages leave the delivery order and come back only by sequence number.

Time is passed in (milliseconds since the Unix epoch) so the rules are testable without sleeping.
Every state change is reported to :class:`Journal` so a restart can rebuild the queue.
"""

from __future__ import annotations

import base64
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from dev.servicebus.config import QueueConfig
from dev.servicebus.message import StoredMessage


def b64(data: bytes) -> str:
    """Bytes as the journal stores them (base64, standard alphabet)."""
    return base64.b64encode(data).decode("ascii")


class BrokerError(Exception):
    """An error the endpoint reports to the client with an AMQP error condition."""

    def __init__(self, condition: str, description: str) -> None:
        super().__init__(description)
        self.condition = condition
        self.description = description


def lock_lost(token: uuid.UUID) -> BrokerError:
    return BrokerError("com.microsoft:message-lock-lost", f"lock {token} expired or was already settled")


def session_lock_lost(session_id: str) -> BrokerError:
    return BrokerError("com.microsoft:session-lock-lost", f"session {session_id!r} lock was lost")


class Journal(Protocol):
    def record(self, op: dict[str, Any]) -> None: ...


class _NoJournal:
    def record(self, op: dict[str, Any]) -> None:
        return None


@dataclass
class Session:
    session_id: str
    messages: OrderedDict[int, StoredMessage] = field(default_factory=OrderedDict)
    state: bytes | None = None
    owner: object | None = None
    locked_until_ms: int = 0


class Queue:
    """One entity (a queue or its ``$DeadLetterQueue``) and its operation counters."""

    def __init__(
        self, config: QueueConfig, journal: Journal | None = None, dead_letter: bool = False
    ) -> None:
        self.config = config
        self.name = config.name + ("/$DeadLetterQueue" if dead_letter else "")
        self.is_dlq = dead_letter
        self.sessions_enabled = config.requires_session and not dead_letter
        self.journal: Journal = journal or _NoJournal()
        self.dlq: Queue | None = None if dead_letter else Queue(config, self.journal, dead_letter=True)
        self.messages: OrderedDict[int, StoredMessage] = OrderedDict()
        self.sessions: dict[str, Session] = {}
        self.locks: dict[uuid.UUID, StoredMessage] = {}
        self.seen: OrderedDict[str, int] = OrderedDict()  # MessageId -> enqueued ms
        self.last_seq = 0
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "send_operations",
                "sends",
                "duplicates",
                "settlements",
                "deliveries",
                "completes",
                "abandons",
                "dead_letters",
                "defers",
                "expired_locks",
                "renewals",
                "management",
            ),
            0,
        )

    # --- sending -------------------------------------------------------------------------------

    def check_sendable(self, payload: bytes) -> StoredMessage:
        """Parse a sent message; a session queue refuses a message without SessionId (``group-id``)."""
        try:
            message = StoredMessage.parse(payload)
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise BrokerError("amqp:decode-error", f"malformed message: {error}") from error
        if self.sessions_enabled and not message.session_id:
            raise BrokerError(
                "amqp:not-allowed", f"{self.name} requires sessions: the message has no SessionId"
            )
        return message

    def enqueue(self, payload: bytes, now_ms: int, scheduled_ms: int | None = None) -> StoredMessage | None:
        """Store a sent message; ``None`` when MessageId repeats within the duplicate window."""
        message = self.check_sendable(payload)
        self.counters["sends"] += 1
        if message.message_id and not self.is_dlq:
            self._forget_old_ids(now_ms)
            if message.message_id in self.seen:
                self.counters["duplicates"] += 1
                return None
            self.seen[message.message_id] = now_ms
        self.last_seq += 1
        message.seq, message.enqueued_ms = self.last_seq, now_ms
        if scheduled_ms is None:
            scheduled_ms = message.requested_schedule_ms
        if scheduled_ms is not None and scheduled_ms > now_ms:
            message.scheduled_ms, message.state = scheduled_ms, "scheduled"
        self._add(message)
        self.journal.record(
            {
                "op": "enqueue",
                "q": self.name,
                "seq": message.seq,
                "at": now_ms,
                "sched": message.scheduled_ms,
                "payload": b64(payload),
            }
        )
        return message

    def restore(self, message: StoredMessage) -> None:
        """Put back a message read from the journal (no counters, no dedup check)."""
        self.last_seq = max(self.last_seq, message.seq)
        if message.message_id and not self.is_dlq:
            self.seen[message.message_id] = message.enqueued_ms
        self._add(message)

    def _add(self, message: StoredMessage) -> None:
        self.messages[message.seq] = message
        if self.sessions_enabled:
            assert message.session_id is not None
            self.session(message.session_id).messages[message.seq] = message

    def _forget_old_ids(self, now_ms: int) -> None:
        horizon = now_ms - int(self.config.dup_window_s * 1000)
        while self.seen:
            oldest_id, at = next(iter(self.seen.items()))
            if at > horizon:
                break
            del self.seen[oldest_id]

    def cancel_scheduled(self, seqs: list[int]) -> None:
        for seq in seqs:
            message = self.messages.get(seq)
            if message is not None and message.state == "scheduled":
                self._remove(message)

    # --- sessions ------------------------------------------------------------------------------

    def session(self, session_id: str) -> Session:
        return self.sessions.setdefault(session_id, Session(session_id))

    def acquire_session(self, owner: object, session_id: str | None, now_ms: int) -> Session | None:
        """Lock ``session_id`` (or the first unlocked session with a message ready) for ``owner``.

        A named session held by another owner raises ``session-cannot-be-locked``; ``None`` means no
        session is available yet (the caller waits, as the service does, up to its operation timeout).
        """
        if session_id is not None:
            session = self.session(session_id)
            if session.owner is not None and session.owner is not owner:
                raise BrokerError(
                    "com.microsoft:session-cannot-be-locked",
                    f"session {session_id!r} is locked by another receiver",
                )
            return self._lock_session(session, owner, now_ms)
        for session in self.sessions.values():
            if session.owner is None and any(m.available(now_ms) for m in session.messages.values()):
                return self._lock_session(session, owner, now_ms)
        return None

    def _lock_session(self, session: Session, owner: object, now_ms: int) -> Session:
        session.owner = owner
        session.locked_until_ms = now_ms + self.config.lock_ms
        return session

    def renew_session(self, session_id: str, owner: object | None, now_ms: int) -> int:
        session = self.sessions.get(session_id)
        if session is None or session.owner is None or (owner is not None and session.owner is not owner):
            raise session_lock_lost(session_id)
        session.locked_until_ms = now_ms + self.config.lock_ms
        for message in session.messages.values():
            if message.lock_token is not None:
                message.locked_until_ms = session.locked_until_ms
        self.counters["renewals"] += 1
        return session.locked_until_ms

    def release_session(self, owner: object, now_ms: int, lost: bool = True) -> None:
        """The owner's link closed (or its lock expired): its unsettled messages come back.

        ``lost`` counts them as failed deliveries. The session goes to the back of the line, so
        next-available receivers take turns over the sessions instead of favouring the oldest.
        """
        for session in self.sessions.values():
            if session.owner is owner:
                session.owner = None
                for message in list(session.messages.values()):
                    if message.lock_token is not None:
                        self._unlock(message, now_ms, count=lost)
                self.sessions.pop(session.session_id, None)  # dead-lettering may have removed it already
                if session.messages or session.state is not None:
                    self.sessions[session.session_id] = session
                return

    def set_state(self, session_id: str, state: bytes | None) -> None:
        self.session(session_id).state = state
        self.journal.record(
            {"op": "state", "q": self.name, "sid": session_id, "state": None if state is None else b64(state)}
        )

    # --- receiving -----------------------------------------------------------------------------

    def next_message(self, session: Session | None, owner: object, now_ms: int) -> StoredMessage | None:
        """The next message in sequence order that is available, locked for ``owner``."""
        pool = session.messages if session is not None else self.messages
        for message in pool.values():
            if message.available(now_ms):
                self.lock(
                    message, owner, session.locked_until_ms if session else now_ms + self.config.lock_ms
                )
                self.counters["deliveries"] += 1
                return message
        return None

    def lock(self, message: StoredMessage, owner: object, until_ms: int) -> None:
        if message.state == "scheduled":
            message.state = "active"
        message.lock_token = uuid.uuid4()
        message.locked_until_ms = until_ms
        message.holder = owner
        self.locks[message.lock_token] = message

    def locked(self, token: uuid.UUID, now_ms: int) -> StoredMessage:
        message = self.locks.get(token)
        if message is None or message.locked_until_ms <= now_ms:
            raise lock_lost(token)
        return message

    def settle(
        self, token: uuid.UUID, outcome: str, now_ms: int, reason: str = "", description: str = ""
    ) -> None:
        """Apply ``complete``, ``abandon``, ``dead-letter``, ``defer`` or ``release`` to a locked message."""
        message = self.locked(token, now_ms)
        if outcome == "complete":
            self.counters["completes"] += 1
            self._remove(message)
        elif outcome == "abandon":
            self.counters["abandons"] += 1
            self._unlock(message, now_ms, count=True)
        elif outcome == "release":
            self._unlock(message, now_ms, count=False)
        elif outcome == "defer":
            self.counters["defers"] += 1
            self._clear_lock(message)
            message.state = "deferred"
            self.journal.record({"op": "defer", "q": self.name, "seq": message.seq})
        elif outcome == "dead-letter":
            self.dead_letter(message, reason, description)
        else:
            raise BrokerError("amqp:not-implemented", f"unknown settlement {outcome!r}")

    def renew_lock(self, token: uuid.UUID, now_ms: int) -> int:
        message = self.locked(token, now_ms)
        if self.sessions_enabled:
            raise BrokerError(
                "amqp:not-allowed", "a session message's lock is the session lock: renew the session"
            )
        message.locked_until_ms = now_ms + self.config.lock_ms
        self.counters["renewals"] += 1
        return message.locked_until_ms

    def _clear_lock(self, message: StoredMessage) -> None:
        if message.lock_token is not None:
            self.locks.pop(message.lock_token, None)
        message.lock_token, message.holder, message.locked_until_ms = None, None, 0

    def _unlock(self, message: StoredMessage, now_ms: int, count: bool) -> None:
        self._clear_lock(message)
        if not count:
            return
        message.delivery_count += 1
        if not self.is_dlq and message.delivery_count >= self.config.max_delivery_count:
            self.dead_letter(
                message,
                "MaxDeliveryCountExceeded",
                f"Message could not be consumed after {self.config.max_delivery_count} delivery attempts.",
            )
        else:
            self.journal.record(
                {"op": "count", "q": self.name, "seq": message.seq, "dc": message.delivery_count}
            )

    def dead_letter(self, message: StoredMessage, reason: str, description: str) -> None:
        if self.dlq is None:
            raise BrokerError("amqp:not-allowed", "a dead-letter queue has no dead-letter queue")
        self.counters["dead_letters"] += 1
        self._remove(message, record=False)
        moved = message.dead_lettered(self.dlq.last_seq + 1, reason, description, self.config.name)
        self.dlq.restore(moved)
        self.journal.record(
            {
                "op": "dlq",
                "q": self.name,
                "seq": message.seq,
                "dseq": moved.seq,
                "reason": reason,
                "desc": description,
            }
        )

    def _remove(self, message: StoredMessage, record: bool = True) -> None:
        self._clear_lock(message)
        self.messages.pop(message.seq, None)
        if self.sessions_enabled and message.session_id is not None:
            session = self.sessions.get(message.session_id)
            if session is not None:
                session.messages.pop(message.seq, None)
                if not session.messages and session.owner is None and session.state is None:
                    del self.sessions[message.session_id]
        if record:
            self.journal.record({"op": "remove", "q": self.name, "seq": message.seq})

    def expire(self, now_ms: int) -> list[object]:
        """Release expired message locks and session locks; return the owners whose session lock ended."""
        lost: list[object] = []
        for session in list(self.sessions.values()):
            if session.owner is not None and session.locked_until_ms <= now_ms:
                lost.append(session.owner)
                self.counters["expired_locks"] += 1
                self.release_session(session.owner, now_ms)
        for message in [m for m in self.locks.values() if m.locked_until_ms <= now_ms]:
            self.counters["expired_locks"] += 1
            self._unlock(message, now_ms, count=True)
        return lost

    # --- browsing ------------------------------------------------------------------------------

    def peek(self, from_seq: int, count: int, session_id: str | None) -> list[StoredMessage]:
        pool: Iterator[StoredMessage]
        if session_id is not None and self.sessions_enabled:
            pool = (
                iter(self.sessions[session_id].messages.values()) if session_id in self.sessions else iter(())
            )
        else:
            pool = iter(self.messages.values())
        found = [m for m in pool if m.seq >= from_seq]
        return found[:count]

    def by_sequence(self, seqs: list[int], owner: object, now_ms: int) -> list[StoredMessage]:
        """Deferred messages by sequence number, locked (Service Bus ``receive-by-sequence-number``)."""
        found = []
        for seq in seqs:
            message = self.messages.get(seq)
            if message is None or message.state != "deferred":
                raise BrokerError(
                    "com.microsoft:message-not-found", f"no deferred message with sequence {seq}"
                )
            self.lock(message, owner, now_ms + self.config.lock_ms)
            found.append(message)
        return found

    def stats(self, now_ms: int) -> dict[str, int]:
        states = [m.state for m in self.messages.values()]
        return {
            "active": sum(1 for m in self.messages.values() if m.state == "active" and m.lock_token is None),
            "locked": len(self.locks),
            "deferred": states.count("deferred"),
            "scheduled": states.count("scheduled"),
            "total": len(self.messages),
            "sessions_locked": sum(1 for s in self.sessions.values() if s.owner is not None),
            **self.counters,
        }
