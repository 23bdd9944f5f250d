"""The bridge's own error hierarchy.

Every failure that leaves a port or the translator is one of these, raised ``from`` the driver error
that caused it, so callers decide by class alone:

* :class:`TransientError` — the operation may succeed if retried (a service is away, a lock was lost,
  this region is not active right now). Handlers let it propagate so the trigger retries
  (Service Bus abandons the message; MQ backs out the unit of work).
* :class:`PermanentError` — retrying cannot help (the input is bad). Handlers record the message as
  ``FAILED`` with :attr:`PermanentError.reason`, keep the body in quarantine and complete the message.
* :class:`ConflictError` — a conditional write lost (HTTP 409/412 or a stale compare-and-set). Neither
  retry nor quarantine: the caller reads the current state and decides.
* :class:`ConfigurationError` — the process cannot start: settings missing or malformed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.model import Lease


class BridgeError(Exception):
    """Root of every error the bridge raises on purpose."""


class TransientError(BridgeError):
    """Retry later: a dependency is unavailable or this region may not act right now."""


class ServiceUnavailable(TransientError):
    """A backing service (``service``) could not be reached or answered with a server error."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} unavailable: {detail}")
        self.service = service
        self.detail = detail


class WritesUnavailable(ServiceUnavailable):
    """The store answers, or may answer, reads but accepts no writes now: Cosmos DB's write region is
    lost or a failover is under way (HTTP 503, HTTP 403 sub-status 3 "write forbidden", or no
    connection on a write; :mod:`shared.adapters.azure_errors`). Nothing was written.

    Callers holding work (the runner's message) wait in bounded steps instead of giving it back, and
    the process-wide breaker (:mod:`shared.breaker`) opens (docs/protocols.md, "Cosmos DB write
    unavailability").
    """


class RegionNotActive(TransientError):
    """The gate says this region is passive (or cannot tell, and fails closed)."""

    def __init__(self, region: str, detail: str) -> None:
        super().__init__(f"region {region} is not active: {detail}")
        self.region = region


class StaleEpoch(RegionNotActive):
    """A write for ``epoch`` met a record of a newer epoch (``current``): a newer active region owns
    it. Permanent for this attempt (abandon; never retry in place), transient for the message."""

    def __init__(self, region: str, what: str, key: str, epoch: int, current: int) -> None:
        super().__init__(region, f"{what} {key!r} belongs to epoch {current}, not {epoch}")
        self.epoch = epoch
        self.current = current


class Interrupted(TransientError):
    """A transient failure that must not be waited out in place: the QueueBuilder backs its unit
    out at once instead of holding it (the dev stack's crash points raise a subclass)."""


class PermanentError(BridgeError):
    """Retrying cannot help; quarantine the input and record why.

    ``reason`` is a short machine-readable code (e.g. ``unsafe-xml``); ``str(error)`` is the sentence a
    person can act on.
    """

    reason: str = "permanent-error"


class TooLarge(BridgeError):
    """The next message is larger than the ``max_bytes`` an ``MqSource.get`` offered (``size`` bytes); it
    was not taken and stays first on the queue (IBM MQ: MQGET with a smaller buffer and without
    ``MQGMO_ACCEPT_TRUNCATED_MSG`` fails with ``MQRC_TRUNCATED_MSG_FAILED``, 2080, and leaves the
    message there: https://www.ibm.com/docs/en/ibm-mq/9.4?topic=codes-2080-0820-rc2080-mqrc-truncated-msg-failed).
    Not a failure: the caller ends its unit of work and starts the next one with that message."""

    def __init__(self, size: int, max_bytes: int) -> None:
        super().__init__(f"the next message has {size} bytes, more than the {max_bytes} offered")
        self.size = size
        self.max_bytes = max_bytes


class ConflictError(BridgeError):
    """A conditional write lost against a concurrent or earlier writer."""


class AlreadyExists(ConflictError):
    """A create-only write found the item already there (HTTP 409, If-None-Match: *)."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} already exists")
        self.what = what
        self.key = key


class PreconditionFailed(ConflictError):
    """An ETag- or value-conditional write found the item changed since it was read (HTTP 412)."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} changed since it was read")
        self.what = what
        self.key = key


class LeaseLost(ConflictError):
    """A renewal or transfer of the region lease lost its compare-and-set: the authority changed.

    ``current`` is the lease in force when the loss was noticed (``None`` if it could not be read);
    a holder that sees this demotes at once (docs/protocols.md, "One active region").
    """

    def __init__(self, expected: Lease, current: Lease | None) -> None:
        now = "unreadable" if current is None else f"{current.active_dc}@{current.epoch}"
        super().__init__(f"region lease {expected.active_dc}@{expected.epoch} lost; now {now}")
        self.expected = expected
        self.current = current


class NotFound(BridgeError):
    """The item does not exist (HTTP 404)."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} not found")
        self.what = what
        self.key = key


class ConfigurationError(BridgeError):
    """Settings are missing or malformed; every problem is listed in :attr:`problems`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings: " + "; ".join(problems))
        self.problems = problems
