"""Operator requests in the operations journal: one document per resubmit, resend or forced failover.

``requests/<id>`` holds who asked, why, when, the state (``PENDING`` → ``APPROVED`` → ``EXECUTING`` →
``DONE`` | ``FAILED``; ``PENDING`` → ``EXPIRED``), who approved, the delivery key of a delivering
action and its result; ``messages/<message id>/<id>`` indexes it by statement. Ids start with the UTC
time (``20261126T093000-resend-1a2b3c4d``), so names sort by time. Every change is an ETag
compare-and-set (``_etag`` travels with the document in memory and is never stored).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.journal import OperationsJournal

REQUEST_ID = re.compile(r"\d{8}T\d{6}-(resend|failover|resubmit)-[0-9a-f]{8}")


class Refused(Exception):
    """A request the desk refuses: HTTP ``status`` and the ``reason`` the caller reads."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def action_key(kind: str, request_id: str) -> str:
    """The delivery key of an operator action: new per request, stable across retries of it
    (48 hex digits, the size of an MQ MsgId, like :func:`shared.model.delivery_key_for`)."""
    return hashlib.sha256(f"{kind}:{request_id}".encode("ascii")).hexdigest()[:48]


def plain(request: Mapping[str, object]) -> dict[str, object]:
    """The request as stored and answered (without the in-memory ``_etag``)."""
    return {k: v for k, v in request.items() if k != "_etag"}


@dataclass
class RequestBook:
    """Creates, reads and moves requests in ``journal``."""

    journal: OperationsJournal
    region: str
    clock: Callable[[], datetime]

    def new(
        self, kind: str, message_id: str, who: str, reason: str, state: str = "EXECUTING", **extra: object
    ) -> dict[str, object]:
        """Create a request (create-only) and, for a statement, its index entry."""
        now = self.clock()
        request_id = f"{now:%Y%m%dT%H%M%S}-{kind}-{secrets.token_hex(4)}"
        request: dict[str, object] = {
            "id": request_id,
            "kind": kind,
            "message_id": message_id,
            "state": state,
            "requested_by": who,
            "requested_at": now.isoformat(),
            "reason": reason,
            "region": self.region,
            "approved_by": None,
            **{k: v for k, v in extra.items() if v is not None},
        }
        if kind != "failover":
            request["delivery_key"] = action_key(kind, request_id)
            self.journal.put(f"messages/{message_id}/{request_id}", {"request": request_id})
        request["_etag"] = self.journal.create(f"requests/{request_id}", request)
        return request

    def move(self, request: dict[str, object], state: str, **extra: object) -> dict[str, object]:
        """Set ``state`` (and ``<state>_at``) if nobody changed the request since it was read."""
        updated = {**request, "state": state, **extra, f"{state.lower()}_at": self.clock().isoformat()}
        updated["_etag"] = self.journal.replace(
            f"requests/{request['id']}", plain(updated), str(request["_etag"])
        )
        return updated

    def get(self, body: Mapping[str, object]) -> dict[str, object]:
        """The request named by ``body["request_id"]`` (with ``_etag``); :class:`Refused` 400/404."""
        request_id = body.get("request_id")
        if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id):
            raise Refused(400, "request_id: required (an id from /api/requests)")
        found = self.journal.read(f"requests/{request_id}")
        if found is None:
            raise Refused(404, f"no request {request_id}")
        return {**found[0], "_etag": found[1]}

    def of_message(self, message_id: str) -> list[dict[str, object]]:
        """The requests about one statement, oldest first."""
        found = []
        for name in self.journal.names(f"messages/{message_id}/"):
            read = self.journal.read(f"requests/{name.rsplit('/', 1)[1]}")
            if read is not None:
                found.append(read[0])
        return found

    def listing(self, state: str | None = None, limit: int = 200) -> list[dict[str, object]]:
        """Requests, newest first (``state`` filters, e.g. ``PENDING``)."""
        found = []
        for name in reversed(self.journal.names("requests/")):
            read = self.journal.read(name)
            if read is not None and (state is None or read[0].get("state") == state):
                found.append(read[0])
            if len(found) >= limit:
                break
        return found
