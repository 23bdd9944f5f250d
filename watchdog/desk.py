"""The operations desk: resubmit, resend and second-approver requests (JSON in, ``(status, JSON)`` out).

* ``resubmit`` — a ``FAILED`` (quarantined) statement, after upstream corrected the cause or with an
  explicit balance policy: translate the quarantined body again and deliver it under a NEW delivery key
  (``resubmit:<request id>``). One operator, audited, reason required; refused while the statement
  still does not translate (422, nothing delivered) and once a resubmit of it succeeded (409).
* ``request_resend`` → ``approve`` — deliver a ``DELIVERED`` statement again on request (the receiver
  lost it): a NEW delivery key (``resend:<request id>``), so MessageWay's duplicate check on the key
  does not drop it, recorded as a resend in the journal and never in the idempotency record, so it is
  never confused with an in-doubt redelivery (which reuses the statement's own key).
* ``request_failover`` (``force``) → ``approve`` — a forced failover bypasses the health check and the
  rate limit; it waits for a second person.

An approval must come from a principal with ``Bridge.Approver`` other than the requester, within
:data:`REQUEST_TTL`. Requests are journal documents (``requests/<id>``) changed only by ETag
compare-and-set, so two approvers cannot both execute one request. Actions that deliver run on the
active region only and pass the same gate fence as the runner right before delivering. Each request
is indexed under ``messages/<message id>/`` so the trace shows it.

Crash safety: a request is marked ``EXECUTING`` (with its delivery key) before the delivery and
``DONE`` after; a crash in between leaves it ``EXECUTING``. ``approve`` of that request id (after
:data:`RESUME_AFTER`) delivers again under the same key, so the receiver's duplicate check drops the
repeat if the first delivery arrived; a new resubmit of the statement is refused meanwhile.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from shared.errors import BridgeError, NotFound, PermanentError, PreconditionFailed, RegionNotActive
from shared.gate_cache import CachedGate
from shared.journal import OperationsJournal
from shared.model import RecordState
from shared.ports import BodyStore, DeliveryTarget, IdempotencyStore, WriteAheadLog
from shared.settings import BALANCE_MODES
from shared.telemetry import metrics
from shared.wal_segment import UnreadableWalEntry
from watchdog.operator import BadRequest, OperatorApi, audit, failover_request, reason_of
from watchdog.requests import Refused, RequestBook, plain
from watchdog.trace import quarantine_name
from watchdog.wal_scan import record_entry

log = logging.getLogger("bridge.audit")

Response = tuple[int, dict[str, object]]
REQUEST_TTL = timedelta(hours=24)
#: An EXECUTING request older than this is taken to have been interrupted (the delivery itself is
#: bounded by the target's timeouts, well below it) and may be resumed.
RESUME_AFTER = timedelta(seconds=60)
_MESSAGE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


class PolicyTranslation(Protocol):
    """What the desk needs of a translation: the MT messages and the balance policy it was made
    under (``transformation_runner.policy.PolicyTranslation``)."""

    @property
    def messages(self) -> Sequence[str]: ...

    @property
    def policy(self) -> str: ...

    @property
    def formats(self) -> tuple[str, ...]: ...


class PolicyTranslator(Protocol):
    """The runner's translate function with its per-account balance policy, handed in by the
    composition root (``transformation_runner.policy.PolicyTranslator``); raises ``PermanentError``."""

    def __call__(self, body: bytes, /) -> PolicyTranslation: ...

    def with_mode(self, body: bytes, mode: str, why: str, /) -> PolicyTranslation: ...


@dataclass
class Desk:
    """The desk's actions for one region."""

    region: str
    gate: CachedGate  # the runner's fence rule on this region's mirror (uncached: ttl 0)
    store: IdempotencyStore
    wal: WriteAheadLog
    quarantine: BodyStore
    target: DeliveryTarget
    journal: OperationsJournal
    translator: PolicyTranslator
    operator: OperatorApi
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self.book = RequestBook(self.journal, self.region, lambda: self.clock())  # noqa: PLW0108 - late-bound: the clock may be replaced

    # -- single-step ------------------------------------------------------------------------------
    def resubmit(self, body: Mapping[str, object], who: str) -> Response:
        """Translate a FAILED statement's quarantined body again and deliver it under a new key."""
        try:
            message_id, reason = message_id_of(body), reason_of(body)
            policy = body.get("policy")
            if policy is not None and policy not in BALANCE_MODES:
                raise BadRequest(f"policy: expected one of {', '.join(BALANCE_MODES)}, got {policy!r}")
        except BadRequest as error:
            return self._audit(who, "resubmit", body, (400, {"error": str(error)}))
        refusal = self._refuse_unless_active() or self._refuse_unless(message_id, RecordState.FAILED)
        if refusal:
            return self._audit(who, "resubmit", body, refusal)
        earlier = [
            r
            for r in self.book.of_message(message_id)
            if r.get("kind") == "resubmit" and r["state"] in ("DONE", "EXECUTING")
        ]
        if earlier:
            hint = (
                "use resend to send it again" if earlier[0]["state"] == "DONE" else "resume it with approve"
            )
            answer: dict[str, object] = {
                "error": f"already resubmitted by request {earlier[0]['id']} ({earlier[0]['state']}); {hint}"
            }
            return self._audit(who, "resubmit", body, (409, answer))
        try:
            original = self.quarantine.get(quarantine_name(message_id))
        except NotFound:
            return self._audit(who, "resubmit", body, (404, {"error": "quarantined body not found"}))
        request = self.book.new("resubmit", message_id, who, reason, policy=policy)
        try:
            translation = self._translate(original, policy, who)
        except PermanentError as error:
            self.book.move(request, "FAILED", result=f"{error.reason}: {error}"[:500])
            answer = {
                "error": f"still does not translate ({error.reason}): {error}"[:600],
                "request": request["id"],
            }
            return self._audit(who, "resubmit", body, (422, answer))
        return self._audit(who, "resubmit", body, self._deliver(request, translation))

    # -- two-step ---------------------------------------------------------------------------------
    def request_resend(self, body: Mapping[str, object], who: str) -> Response:
        """Ask for a DELIVERED statement to be sent again; a different approver must approve."""
        try:
            message_id, reason = message_id_of(body), reason_of(body)
        except BadRequest as error:
            return self._audit(who, "resend", body, (400, {"error": str(error)}))
        refusal = self._refuse_unless(message_id, RecordState.DELIVERED)
        if refusal:
            return self._audit(who, "resend", body, refusal)
        request = self.book.new("resend", message_id, who, reason, state="PENDING")
        return self._audit(who, "resend", body, (202, _awaiting(request)))

    def request_failover(self, body: Mapping[str, object], who: str) -> Response:
        """A forced failover waits for a second, different approver."""
        try:
            target, reason, _ = failover_request(body)
        except BadRequest as error:
            return self._audit(who, "failover", body, (400, {"error": str(error)}))
        request = self.book.new("failover", "", who, reason, state="PENDING", target=target)
        return self._audit(who, "failover", body, (202, _awaiting(request)))

    def approve(self, body: Mapping[str, object], who: str) -> Response:
        """Approve and execute a PENDING request of someone else; or resume a resend or resubmit left
        ``EXECUTING`` by a crash (after :data:`RESUME_AFTER`), under the delivery key it already has."""
        try:
            request = self.book.get(body)
        except Refused as refused:
            return self._audit(who, "approve", body, (refused.status, {"error": refused.reason}))
        request_id, etag = str(request["id"]), str(request["_etag"])
        if request.get("state") == "EXECUTING" and request.get("kind") in ("resend", "resubmit"):
            return self._audit(who, "resume", body, self._resume(request))
        refusal = self._unapprovable(request, etag, who)
        if refusal:
            return self._audit(who, "approve", body, refusal)
        approved = {
            **request,
            "state": "APPROVED",
            "approved_by": who,
            "approved_at": self.clock().isoformat(),
        }
        try:
            approved["_etag"] = self.journal.replace(f"requests/{request_id}", plain(approved), etag)
        except PreconditionFailed:
            return self._audit(
                who, "approve", body, (409, {"error": "the request changed meanwhile; read it again"})
            )
        if request["kind"] == "failover":
            return self._audit(who, "approve", body, self._failover(approved))
        return self._audit(who, "approve", body, self._resend(approved))

    def _unapprovable(self, request: dict[str, object], etag: str, who: str) -> Response | None:
        if request.get("state") != "PENDING":
            return 409, {"error": f"request is {request.get('state')}, not PENDING"}
        if request.get("requested_by") == who:
            return 403, {"error": "a second, different approver is needed: you made this request"}
        if self.clock() - datetime.fromisoformat(str(request["requested_at"])) > REQUEST_TTL:
            self.book.move({**request, "_etag": etag}, "EXPIRED", result="not approved within 24 h")
            return 409, {"error": "request expired (24 h); ask again"}
        return None

    def requests(self, state: str | None = None) -> Response:
        """Requests, newest first (``state`` filters, e.g. ``PENDING``)."""
        return 200, {"requests": self.book.listing(state)}

    # -- execution --------------------------------------------------------------------------------
    def _resend(self, request: dict[str, object]) -> Response:
        refusal = self._refuse_unless_active() or self._refuse_unless(
            str(request["message_id"]), RecordState.DELIVERED
        )
        if refusal:
            self.book.move(request, "FAILED", result=str(refusal[1]["error"]))
            return refusal
        record = self.store.get(str(request["message_id"]))
        assert record is not None
        try:
            entry = record_entry(self.wal, record)
            if entry is None:
                raise NotFound("WAL record", f"{record.message_id} in segment {record.wal_name}")
            original = self.wal.read_entry(entry.locator)
        except (NotFound, UnreadableWalEntry) as error:
            self.book.move(request, "FAILED", result=str(error)[:500])
            return 409, {"error": f"the statement cannot be read from the WAL: {error}"[:600]}
        try:
            translation = self.translator(original)
        except PermanentError as error:  # the configuration changed since the first delivery
            self.book.move(request, "FAILED", result=f"{error.reason}: {error}"[:500])
            return 422, {"error": f"no longer translates ({error.reason}): {error}"[:600]}
        return self._deliver(request, translation)

    def _resume(self, request: dict[str, object]) -> Response:
        """Deliver again under the request's own key: the receiver drops it if the first one arrived."""
        since = datetime.fromisoformat(str(request.get("executing_at") or request["requested_at"]))
        if self.clock() - since < RESUME_AFTER:
            return 409, {"error": f"request is executing since {since.isoformat()}; resume after 60 s"}
        if request["kind"] == "resend":
            return self._resend(request)
        try:
            original = self.quarantine.get(quarantine_name(str(request["message_id"])))
            translation = self._translate(original, request.get("policy"), str(request["requested_by"]))
        except (NotFound, PermanentError) as error:
            self.book.move(request, "FAILED", result=str(error)[:500])
            return 409, {"error": f"cannot resume: {error}"[:600]}
        return self._deliver(request, translation)

    def _failover(self, request: dict[str, object]) -> Response:
        caller = f"{request['requested_by']} (approved by {request['approved_by']})"
        body = {"target": request["target"], "reason": request["reason"], "force": True}
        status, answer = self.operator.failover(body, caller=caller)
        self.book.move(request, "DONE" if status < 400 else "FAILED", result=answer)
        return status, {**answer, "request": request["id"]}

    def _deliver(self, request: dict[str, object], translation: PolicyTranslation) -> Response:
        """Mark EXECUTING, fence, deliver under the request's own key, mark DONE."""
        try:
            request = self.book.move(request, "EXECUTING", policy_used=translation.policy)
        except PreconditionFailed:  # someone else resumed or finished it meanwhile
            return 409, {"error": "the request changed meanwhile; read it again"}
        try:
            fence = self.gate.check(self.region)  # the runner's fence, right before the side effect
        except RegionNotActive as error:
            self.book.move(request, "FAILED", result=f"region lost the lease before delivering: {error}")
            return 409, {"error": f"{self.region} is no longer active; nothing was delivered"}
        key = str(request["delivery_key"])
        metadata = {
            "message_id": str(request["message_id"]),
            "region": self.region,
            "epoch": str(fence.epoch),
            "format": ",".join(translation.formats),  # as the runner sends it
        }
        self.target.deliver(
            key,
            "".join(translation.messages).encode("ascii"),
            {**metadata, str(request["kind"]): str(request["id"])},
        )
        done = self.book.move(request, "DONE", result="delivered", pages=len(translation.messages))
        metrics.incr(f"operator_{request['kind']}")
        return 200, {k: v for k, v in done.items() if k != "_etag"}

    # -- helpers ----------------------------------------------------------------------------------
    def _translate(self, body: bytes, policy: object, who: str) -> PolicyTranslation:
        """``policy`` given by ``who``, else the account's configured policy."""
        if policy:
            return self.translator.with_mode(body, str(policy), f"explicit, by {who}")
        return self.translator(body)

    def _refuse_unless(self, message_id: str, state: RecordState) -> Response | None:
        record = self.store.get(message_id)
        if record is None:
            return 404, {"error": f"no idempotency record for {message_id}"}
        if record.state is not state:
            hint = "resubmit a FAILED one, resend a DELIVERED one"
            return 409, {"error": f"statement is {record.state.value}, not {state.value} ({hint})"}
        return None

    def _refuse_unless_active(self) -> Response | None:
        try:
            self.gate.check(self.region)
        except RegionNotActive as error:
            return 409, {"error": f"{self.region} is not active ({error}); deliver from the active region"}
        except BridgeError as error:
            return 503, {"error": f"gate unreadable: {error}"}
        return None

    def _audit(
        self, who: str, action: str, body: Mapping[str, object], response: tuple[int, Mapping[str, object]]
    ) -> Response:
        fields = ("message_id", "request_id", "policy", "target")
        return audit(self.region, caller=who, action=action, body=body, response=response, fields=fields)


def message_id_of(body: Mapping[str, object]) -> str:
    value = body.get("message_id")
    if not isinstance(value, str) or not _MESSAGE_ID.fullmatch(value):
        raise BadRequest("message_id: required (letters, digits, . _ -; at most 128)")
    return value


def _awaiting(request: Mapping[str, object]) -> dict[str, object]:
    return {
        "request": request["id"],
        "state": "PENDING",
        "next": "a different person with Bridge.Approver approves: POST /api/approve {request_id}",
    }
