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
)

from shared.errors import (
    AlreadyExists,
    BridgeError,
    NotFound,
    PermanentError,
    PreconditionFailed,
    ServiceUnavailable,
)
from shared.telemetry import metrics

_RETRYABLE_STATUS = frozenset({408, 429, 449})
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


def translate(error: BaseException, *, service: str, what: str, key: str) -> BridgeError:
    """The project error for driver ``error`` raised while working on ``what`` ``key`` at ``service``."""
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


@contextmanager
def azure_errors(service: str, what: str, key: str) -> Iterator[None]:
    """Run the block; re-raise any driver error as the project error :func:`translate` gives.

    Counts every call as ``ops.<service>`` in :data:`shared.telemetry.metrics` (the drill's Azure
    operations per message)."""
    metrics.incr(f"ops.{service}")
    try:
        yield
    except (AzureError, OSError) as error:
        raise translate(error, service=service, what=what, key=key) from error
