"""camt.053 → MT950 translation: pure code (lxml only), no I/O, no ``azure.*``.

Public API (called by the Transformation Runner handler and the QueueBuilder)::

    translate(body, TranslationOptions(...)) -> TranslationResult
    iter_pages(body, options) -> Iterator[Page]      # streaming variant, same pages in order
    account_of(body, max_bytes) -> str               # cheap peek at the first Stmt's account

Every ``Stmt`` of the document becomes its own MT950 series; each page is a full FIN message
``{1:...}{2:...}{4:\\r\\n...\\r\\n-}`` validated against the MT950 format table before it is returned.
Errors are :class:`~transformation_runner.translate.errors.TranslationError` subclasses only (each a
:class:`shared.errors.PermanentError` with a ``reason`` code). Rules: docs/translation.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import DecimalException
from typing import TypeVar

from lxml import etree

from transformation_runner.translate import camt053
from transformation_runner.translate.errors import (
    InvalidValue,
    InvalidXml,
    MissingElement,
    TranslationError,
)
from transformation_runner.translate.model import AppHeader, StatementEnd, StatementHeader
from transformation_runner.translate.mt950 import Page, SeriesWriter

__all__ = [
    "BALANCE_MODES",
    "Page",
    "TranslationError",
    "TranslationOptions",
    "TranslationResult",
    "account_of",
    "iter_pages",
    "translate",
]

BALANCE_MODES = ("strict", "as-sent")
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
_T = TypeVar("_T")


@dataclass(frozen=True)
class TranslationOptions:
    """How to translate: default BICs, balance mode (``strict`` | ``as-sent``), body size limit."""

    sender_bic: str = ""  # default BIC when neither AppHdr nor Acct/Svcr gives one
    receiver_bic: str = ""  # default BIC when neither AppHdr nor Acct/Ownr gives one
    balance_mode: str = "strict"
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True)
class TranslationResult:
    """All MT950 messages of one camt.053 body, in order, with the machine-readable report."""

    messages: list[str]  # full FIN messages, one per MT950 page, all series of all Stmt in order
    report: list[dict[str, object]] = field(default_factory=list)
    statements: int = 0
    account: str = ""  # account of the first Stmt (same as account_of)


def _guarded(events: Iterator[_T]) -> Iterator[_T]:
    """Re-raise anything a library might still throw as the translator's own errors."""
    try:
        yield from events
    except TranslationError:
        raise
    except etree.LxmlError as error:
        raise InvalidXml(f"XML could not be parsed: {error}") from error
    except (DecimalException, ValueError, OverflowError) as error:
        raise InvalidValue(f"value could not be translated: {error}") from error


def iter_pages(body: bytes, options: TranslationOptions = TranslationOptions()) -> Iterator[Page]:
    """Yield every MT950 page as soon as it is complete (bounded memory for any statement size).

    A later page may still fail (strict balance check at the end of a statement): treat pages as
    provisional until the iterator is exhausted without an error.
    """
    _check(options)
    return _guarded(_pages(body, options, []))


def _check(options: TranslationOptions) -> None:
    if options.balance_mode not in BALANCE_MODES:
        raise InvalidValue(f"balance mode {options.balance_mode!r} is not one of {', '.join(BALANCE_MODES)}")


def _pages(body: bytes, options: TranslationOptions, headers: list[StatementHeader]) -> Iterator[Page]:
    """The pages of every statement in order; ``headers`` receives each statement's header."""
    app: AppHeader | None = None
    writer: SeriesWriter | None = None
    for event in camt053.read(body, options.max_bytes):
        if isinstance(event, list):
            assert writer is not None
            yield from writer.add(event)
            continue
        if isinstance(event, StatementHeader):
            headers.append(event)
            writer = SeriesWriter(
                event,
                app,
                options.sender_bic,
                options.receiver_bic,
                options.balance_mode,
                message=writer.message if writer else 0,
            )
            continue
        elif isinstance(event, StatementEnd):
            assert writer is not None
            page = writer.finish()
        else:
            app = event
            continue
        yield page


def translate(body: bytes, options: TranslationOptions = TranslationOptions()) -> TranslationResult:
    """Translate a camt.053 body into MT950 messages (see the module docstring); pure, no I/O."""
    _check(options)
    messages: list[str] = []
    report: list[dict[str, object]] = []
    headers: list[StatementHeader] = []
    for page in _guarded(_pages(body, options, headers)):
        messages.append(page.message)
        report.extend(page.report)
    # The first header is what account_of(body) would read again from the start of the body.
    account = (headers[0].account or "NOTPROVIDED") if headers else account_of(body, options.max_bytes)
    return TranslationResult(
        messages=messages,
        report=report,
        statements=len({header.number for header in headers}),
        account=account,
    )


def account_of(body: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The first ``Stmt``'s ``Acct/Id/IBAN`` (else ``Othr/Id``, else ``NOTPROVIDED``), read as a stream.

    Stops at the first statement's first entry; used by the QueueBuilder as the Service Bus session id.
    Raises the same errors as :func:`translate` for unsafe or non-camt.053 input.
    """
    events = camt053.read(body, max_bytes)
    try:
        for event in _guarded(events):
            if isinstance(event, StatementHeader):
                return event.account or "NOTPROVIDED"
    finally:
        events.close()
    raise MissingElement("camt.053 Document has no Stmt")
