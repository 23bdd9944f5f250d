"""camt.053 → MT950 or MT940, camt.052 → MT942 translation: pure code (lxml only), no I/O, no ``azure.*``.

Public API (called by the Transformation Runner handler and the QueueBuilder)::

    translate(body, TranslationOptions(...)) -> TranslationResult
    iter_pages(body, options) -> Iterator[Page]      # streaming variant, same pages in order
    account_of(body, max_bytes) -> str               # cheap peek at the first Stmt's (Rpt's) account

Every ``Stmt`` (``Rpt``) of the document becomes its own series in the format :func:`layout_for`
chooses; each page is a full FIN message ``{1:...}{2:...}{4:\\r\\n...\\r\\n-}`` validated against the
format table before it is returned.
Errors are :class:`~transformation_runner.translate.errors.TranslationError` subclasses only (each a
:class:`shared.errors.PermanentError` with a ``reason`` code). Rules: docs/translation.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import DecimalException
from typing import TypeVar

from lxml import etree

from transformation_runner.translate import camt053
from transformation_runner.translate.errors import (
    FormatMismatch,
    InvalidValue,
    InvalidXml,
    MissingElement,
    TranslationError,
)
from transformation_runner.translate.interim import ReportWriter
from transformation_runner.translate.model import AppHeader, StatementEnd, StatementHeader
from transformation_runner.translate.mt_format import LAYOUTS, MT942, MT950, Layout
from transformation_runner.translate.statement import StatementWriter
from transformation_runner.translate.writer import Page, SeriesWriter, parties

__all__ = [
    "BALANCE_MODES",
    "FORMATS",
    "STATEMENT_FORMATS",
    "Page",
    "TranslationError",
    "TranslationOptions",
    "TranslationResult",
    "account_of",
    "iter_pages",
    "layout_for",
    "translate",
]

BALANCE_MODES = ("strict", "as-sent")
_MADE_FROM = {"MT940": "camt.053", "MT942": "camt.052", "MT950": "camt.053"}  # format -> its document
FORMATS = tuple(_MADE_FROM)
STATEMENT_FORMATS = tuple(name for name, kind in _MADE_FROM.items() if kind == "camt.053")
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
_T = TypeVar("_T")


@dataclass(frozen=True)
class TranslationOptions:
    """How to translate: default BICs, balance mode (``strict`` | ``as-sent``), body size limit, and
    the target format: ``format`` for every statement (the CLI's ``--format``), else ``formats``
    (account or receiver BIC → ``MT940``/``MT950`` for camt.053), else the document type's default."""

    sender_bic: str = ""  # default BIC when neither AppHdr nor Acct/Svcr gives one
    receiver_bic: str = ""  # default BIC when neither AppHdr nor Acct/Ownr gives one
    balance_mode: str = "strict"
    max_bytes: int = DEFAULT_MAX_BYTES
    format: str = ""  # MT940 | MT942 | MT950; "" = by document type and ``formats``
    formats: Mapping[str, str] = field(default_factory=dict)  # account or BIC -> MT940 | MT950


@dataclass(frozen=True)
class TranslationResult:
    """All MT950 messages of one camt.053 body, in order, with the machine-readable report."""

    messages: list[str]  # full FIN messages, one per page, all series of all Stmt in order
    report: list[dict[str, object]] = field(default_factory=list)
    statements: int = 0
    account: str = ""  # account of the first Stmt (same as account_of)
    formats: tuple[str, ...] = ()  # the formats written (MT940, MT942, MT950), in order of first use


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
    if options.format and options.format.upper() not in FORMATS:
        raise InvalidValue(f"format {options.format!r} is not one of {', '.join(FORMATS)}")
    wrong = {key: value for key, value in options.formats.items() if value not in STATEMENT_FORMATS}
    if wrong:
        raise InvalidValue(f"statement formats {wrong} are not {' or '.join(STATEMENT_FORMATS)}")


def layout_for(header: StatementHeader, receiver: str, options: TranslationOptions) -> Layout:
    """The format of one statement: ``options.format``, else (camt.053) ``options.formats`` for its
    account, then for its receiver BIC (11 characters, then 8), then for ``*``, else MT950; a
    camt.052 is MT942."""
    if options.format:
        name = options.format.upper()
        if _MADE_FROM[name] != header.kind:
            raise FormatMismatch(
                f"{header.path}: {name} is made from {_MADE_FROM[name]}, and this document is {header.kind}"
            )
        return LAYOUTS[name]
    if header.kind == "camt.052":
        return MT942
    formats = options.formats
    for key in (header.account, receiver, receiver[:8], "*"):
        if key and key in formats:
            return LAYOUTS[formats[key]]
    return MT950


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
            sender, receiver = parties(event, app, options.sender_bic, options.receiver_bic)
            layout = layout_for(event, receiver, options)
            event.rich = layout.narrative  # MT940/MT942: the reader reads the entries' 86 elements
            kind = ReportWriter if event.kind == "camt.052" else StatementWriter
            writer = kind(
                event,
                layout,
                sender,
                receiver,
                options.balance_mode,
                message=writer.message if writer else 0,
            )
        elif isinstance(event, StatementEnd):
            assert writer is not None
            yield from writer.finish()
        else:
            app = event


def translate(body: bytes, options: TranslationOptions = TranslationOptions()) -> TranslationResult:
    """Translate a camt.053 or camt.052 body into MT messages (see the module docstring); pure, no I/O."""
    _check(options)
    messages: list[str] = []
    report: list[dict[str, object]] = []
    headers: list[StatementHeader] = []
    formats: dict[str, None] = {}
    for page in _guarded(_pages(body, options, headers)):
        messages.append(page.message)
        report.extend(page.report)
        formats[str(page.report[0]["format"])] = None
    # The first header is what account_of(body) would read again from the start of the body.
    account = (headers[0].account or "NOTPROVIDED") if headers else account_of(body, options.max_bytes)
    return TranslationResult(
        messages=messages,
        report=report,
        statements=len({header.number for header in headers}),
        account=account,
        formats=tuple(formats),
    )


def account_of(body: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The first ``Stmt``'s (``Rpt``'s) ``Acct/Id/IBAN`` (else ``Othr/Id``, else ``NOTPROVIDED``),
    read as a stream.

    Stops at the first statement's first entry; used by the QueueBuilder as the Service Bus session id.
    Raises the same errors as :func:`translate` for unsafe input or input neither camt.053 nor camt.052.
    """
    events = camt053.read(body, max_bytes)
    try:
        for event in _guarded(events):
            if isinstance(event, StatementHeader):
                return event.account or "NOTPROVIDED"
    finally:
        events.close()
    raise MissingElement("camt.053/camt.052 Document has no Stmt or Rpt")
