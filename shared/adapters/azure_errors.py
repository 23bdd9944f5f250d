"""One mapping from azure-core (and azure-cosmos) errors to the bridge's errors.

Every Azure adapter wraps its driver calls in :func:`azure_errors`, so a caller sees only
:mod:`shared.errors` classes, each raised ``from`` the driver error:

=====================================================  ============================================
Driver error                                           Project error
=====================================================  ============================================
HTTP 404 (``ResourceNotFoundError``)                   :class:`~shared.errors.NotFound`
HTTP 409 (``ResourceExistsError``)                     :class:`~shared.errors.AlreadyExists`
HTTP 412 (``ResourceModifiedError``, Cosmos            :class:`~shared.errors.PreconditionFailed`
``CosmosAccessConditionFailedError``)
HTTP 408, 429, 449 and every 5xx                       :class:`~shared.errors.ServiceUnavailable`
no connection, reset, timeout (``ServiceRequestError``, :class:`~shared.errors.ServiceUnavailable`
``ServiceResponseError``, ``CosmosClientTimeoutError``,
``OSError``)
HTTP 401/403 (``ClientAuthenticationError``)           :class:`~shared.errors.ServiceUnavailable`
                                                       (role assignments and tokens can take minutes
                                                       to propagate; the detail says "authentication")
any other HTTP 4xx                                     :class:`RequestRejected` (a ``PermanentError``)
=====================================================  ============================================

A Cosmos DB *write* (``azure_errors(..., write=True)``) that meets HTTP 503, HTTP 403 with sub-status 3
("WriteForbidden": a write sent to a read region, e.g. during a failover) or no connection at all
raises :class:`~shared.errors.WritesUnavailable` instead (a ``ServiceUnavailable``): the write region
is away, and the caller pauses rather than spending retries (Cosmos REST "HTTP status codes",
https://learn.microsoft.com/rest/api/cosmos-db/http-status-codes-for-cosmosdb; SDK guidance on 503 and
403.3, https://learn.microsoft.com/azure/cosmos-db/nosql/troubleshoot-service-unavailable and
https://learn.microsoft.com/azure/cosmos-db/nosql/troubleshoot-forbidden). A timeout is not mapped
so: the write may have landed, and the caller must read before it acts.

A 500 is never read as "missing": the local Cosmos server's old habit of answering 500 for a missing
item is fixed in the stack (``scripts/patch-cosmosdb-server``), and in Azure a 500 is a server fault.
Status codes come from RFC 9110 §15 and the Blob/Cosmos REST references
(https://learn.microsoft.com/rest/api/storageservices/blob-service-error-codes,
https://learn.microsoft.com/rest/api/cosmos-db/http-status-codes-for-cosmosdb).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from shared.errors import (
    AlreadyExists,
    BridgeError,
    NotFound,
    PermanentError,
    PreconditionFailed,
    ServiceUnavailable,
    WritesUnavailable,
)
from shared.telemetry import metrics

_RETRYABLE_STATUS = frozenset({408, 429, 449})
_WRITE_FORBIDDEN = 3  # Cosmos sub-status of HTTP 403: a write sent to a read region
_KEYED: tuple[tuple[type[AzureError], int, type[NotFound | AlreadyExists | PreconditionFailed]], ...] = (
    (ResourceNotFoundError, 404, NotFound),
    (ResourceExistsError, 409, AlreadyExists),
    (ResourceModifiedError, 412, PreconditionFailed),
)


class RequestRejected(PermanentError):
    """The service refused the request as malformed (HTTP 400 and other 4xx not listed above).

    Retrying the same request cannot help; ``status`` and ``code`` are the service's answer.
    """

    reason = "request-rejected"

    def __init__(self, service: str, status: int | None, code: str | None, detail: str) -> None:
        super().__init__(f"{service} rejected the request (HTTP {status}, {code}): {detail}")
        self.service = service
        self.status = status
        self.code = code


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


def translate(error: BaseException, *, service: str, what: str, key: str, write: bool = False) -> BridgeError:
    """The project error for driver ``error`` raised while working on ``what`` ``key`` at ``service``
    (``write``: the call was a Cosmos DB write; see :func:`writes_unavailable`)."""
    status = getattr(error, "status_code", None)
    if (
        write
        and service == "cosmos"
        and not isinstance(error, BridgeError)
        and writes_unavailable(error, status)
    ):
        return WritesUnavailable(service, f"writes unavailable (HTTP {status}): {_first_line(error)}")
    return _translate(error, service=service, what=what, key=key)


def _translate(error: BaseException, *, service: str, what: str, key: str) -> BridgeError:
    if isinstance(error, BridgeError):
        return error
    status = getattr(error, "status_code", None)
    for driver_class, keyed_status, project_class in _KEYED:
        if isinstance(error, driver_class) or status == keyed_status:
            return project_class(what, key)
    if isinstance(error, ClientAuthenticationError) or status in (401, 403):
        return ServiceUnavailable(service, f"authentication failed (HTTP {status}): {_first_line(error)}")
    if isinstance(error, HttpResponseError) and status is not None:
        if status >= 500 or status in _RETRYABLE_STATUS:
            return ServiceUnavailable(service, f"HTTP {status}: {_first_line(error)}")
        code = getattr(error, "error_code", None)
        return RequestRejected(service, status, None if code is None else str(code), _first_line(error))
    # No HTTP answer at all: connection refused or reset, timeouts, TLS, decoding of a cut stream.
    return ServiceUnavailable(service, f"{type(error).__name__}: {_first_line(error)}")


def writes_unavailable(error: BaseException, status: int | None) -> bool:
    """Whether a failed Cosmos write says "no writes now": 503, 403 sub-status 3, or no HTTP answer
    because no connection could be made or kept (refused, reset). Timeouts are excluded: unknown
    outcome."""
    if status == 503:
        return True
    if status == 403:
        return getattr(error, "sub_status", None) == _WRITE_FORBIDDEN
    if status is not None or "timeout" in type(error).__name__.lower():
        return False
    return isinstance(error, (ServiceRequestError, ServiceResponseError, ConnectionError))


@contextmanager
def azure_errors(service: str, what: str, key: str, *, write: bool = False) -> Iterator[None]:
    """Run the block; re-raise any driver error as the project error :func:`translate` gives.

    Counts every call as ``ops.<service>`` in :data:`shared.telemetry.metrics` (the drill's Azure
    operations per message)."""
    metrics.incr(f"ops.{service}")
    try:
        yield
    except (AzureError, OSError) as error:
        raise translate(error, service=service, what=what, key=key, write=write) from error
