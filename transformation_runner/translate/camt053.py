"""Safe, streaming reader of ISO 20022 camt.053 (BankToCustomerStatement) and camt.052
(BankToCustomerAccountReport), versions .001.02 to .001.13 of both.

:func:`read` yields, in document order: an :class:`AppHeader` (when the Document is wrapped in a
business-application envelope), then per ``Stmt`` (camt.053) or ``Rpt`` (camt.052) one
:class:`StatementHeader` (before its first entry), its entries as lists of :class:`Entry` (in order),
and a :class:`StatementEnd`. A report has the statement's structure (``Id``, sequence numbers,
``Acct``, ``Bal``, ``Ntry``, ``AddtlRptInf``), so one reader serves both. The consumer sets
``header.rich`` when it receives a header whose entries it wants with their ``:86:`` elements
(MT940, MT942): the entries are read after the header is yielded.

How: the body is fed to lxml's pull parser :data:`CHUNK_BYTES` at a time, asking only for the start
tags of ``Document``, ``AppHdr`` and ``Stmt`` (``Rpt``). After each chunk the open statement's children parsed
so far are read in one pass (all but the last, which may still be open), then unlinked, which frees
them: memory stays flat whatever the number of entries. Asking the parser for no other event keeps
libxml2 from calling back into Python at every end tag, and reading the children as one list avoids
an event per entry (together about 8 % less CPU than ``iterparse`` events for ``Bal``/``Ntry``).
The statement header is read from the children before the first ``Bal`` or ``Ntry``; ``GrpHdr``
(complete when the first statement starts) gives its creation time and related query.

Safety (OWASP XML External Entity Prevention Cheat Sheet): the body is refused before parsing when it
is too large, not XML, not ASCII-compatible, or carries ``<!DOCTYPE`` / ``<!ENTITY`` anywhere; the
parser itself never loads a DTD, never resolves entities and never touches the network.

Version differences handled: ``BIC`` (.02/.03) vs ``BICFI`` (.04+), ``Sts`` as text (.02-.07) vs
``Sts/Cd`` (.08+), ``Dt`` vs ``DtTm`` in every date choice, ``AnyBIC``/``BICOrBEI`` of the account owner
with or without the ``Pty`` wrapper, any optional element missing.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Generator, Iterator
from functools import lru_cache
from typing import cast

from lxml import etree

from transformation_runner.translate.entries import CodeCache, children_of, entry_tags, read_entry, text
from transformation_runner.translate.errors import (
    InvalidXml,
    MissingElement,
    NotCamt053,
    TooLarge,
    UnsafeXml,
)
from transformation_runner.translate.model import (
    AppHeader,
    Balance,
    Entry,
    StatementEnd,
    StatementHeader,
)

Event = AppHeader | StatementHeader | list[Entry] | StatementEnd
CHUNK_BYTES = 32 * 1024  # fed to the parser at a time; its complete entries are read together
CAMT05X = re.compile(r"urn:iso:std:iso:20022:tech:xsd:camt\.05([23])\.001\.(\d{2})")  # .053 and .052
_STATEMENT = {"3": ("camt.053", "Stmt", "AddtlStmtInf"), "2": ("camt.052", "Rpt", "AddtlRptInf")}
SUPPORTED_VERSIONS = range(2, 14)
_ISO_MESSAGE = re.compile(r"urn:iso:std:iso:20022:tech:xsd:([a-z]{4}\.[0-9]{3}\.[0-9]{3}\.[0-9]{2})")
_LEADING = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*")  # UTF-8 BOM, then whitespace
_OWNER_BIC_TAGS = {"AnyBIC", "BICOrBEI", "BIC", "BICFI"}
# element[a:b], typed (lxml-stubs do not type slices of an element)
_children = cast(Callable[[etree._Element, slice], list[etree._Element]], operator.getitem)


def check_body(body: bytes, max_bytes: int) -> None:
    """Refuse a body before any parsing: size, not XML, non-ASCII-compatible encoding, DTD."""
    if len(body) > max_bytes:
        raise TooLarge(f"body is {len(body)} bytes, more than the limit of {max_bytes}")
    offset = _LEADING.match(body)
    begin = offset.end() if offset else 0
    start = body[begin : begin + 64]
    if not start.startswith(b"<"):
        raise InvalidXml(f"body is not XML (starts with {body[:16]!r})")
    if b"\x00" in start:
        raise InvalidXml("body is not in an ASCII-compatible encoding (ISO 20022 requires UTF-8)")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise UnsafeXml("body declares a DOCTYPE or entities; refused (XXE / entity expansion)")


@lru_cache(maxsize=512)
def _qualified(namespace: str, path: str) -> str:
    return "/".join(f"{{{namespace}}}{step}" for step in path.split("/"))


class _Finder:
    """``find`` by slash path in one namespace over a list of children, paths qualified once."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def find(self, children: list[etree._Element], path: str) -> etree._Element | None:
        """``find(path)`` of the children's parent, in ElementPath's order (children, then depth)."""
        head, _, rest = path.partition("/")
        tag = _qualified(self.namespace, head)
        rest = _qualified(self.namespace, rest) if rest else ""
        for child in children:
            if child.tag == tag:
                found = child.find(rest) if rest else child
                if found is not None:
                    return found
        return None

    def text(self, children: list[etree._Element], *paths: str) -> str | None:
        """Stripped text of the first path that has one."""
        for path in paths:
            value = text(self.find(children, path))
            if value is not None:
                return value
        return None


def _header(
    children: list[etree._Element], find: _Finder, number: int, version: int, group: _Group
) -> StatementHeader:
    """The statement header from the ``Stmt`` children before its first ``Bal`` or ``Ntry``."""
    owner = find.find(children, "Acct/Ownr")
    owner_bic = None
    if owner is not None:
        for element in owner.iter():
            if isinstance(element.tag, str) and etree.QName(element).localname in _OWNER_BIC_TAGS:
                owner_bic = text(element)
                break
    return StatementHeader(
        number=number,
        version=version,
        statement_id=find.text(children, "Id"),
        legal_sequence=find.text(children, "LglSeqNb"),
        electronic_sequence=find.text(children, "ElctrncSeqNb"),
        iban=find.text(children, "Acct/Id/IBAN"),
        other_account_id=find.text(children, "Acct/Id/Othr/Id"),
        account_currency=find.text(children, "Acct/Ccy"),
        servicer_bic=find.text(children, "Acct/Svcr/FinInstnId/BICFI", "Acct/Svcr/FinInstnId/BIC"),
        owner_bic=owner_bic,
        kind=group.kind,
        created=find.text(children, "CreDtTm") or group.created,
        related=group.related,
    )


def _balance(bal: etree._Element, find: _Finder, path: str) -> Balance:
    children = children_of(bal)
    amount = find.find(children, "Amt")
    return Balance(
        code=find.text(children, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry") or "",
        subtype=find.text(children, "Tp/SubTp/Cd", "Tp/SubTp/Prtry"),
        amount=text(amount),
        currency=amount.get("Ccy") if amount is not None else None,
        indicator=find.text(children, "CdtDbtInd"),
        date=find.text(children, "Dt/Dt", "Dt/DtTm"),
        path=path,
    )


def _release(element: etree._Element) -> None:
    """Drop a processed element and every earlier sibling, so the tree never grows."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        del parent[: parent.index(element)]


def _document_version(namespace: str) -> tuple[str, int]:
    """(message digit ``3`` or ``2``, version) of a camt.053 or camt.052 Document namespace."""
    match = CAMT05X.fullmatch(namespace)
    if match is None:
        other = _ISO_MESSAGE.fullmatch(namespace)
        kind = other.group(1) if other else (namespace or "no namespace")
        raise NotCamt053(
            f"Document is {kind}, not camt.053 (BankToCustomerStatement) "
            f"or camt.052 (BankToCustomerAccountReport)"
        )
    version = int(match.group(2))
    if version not in SUPPORTED_VERSIONS:
        raise NotCamt053(f"camt.05{match.group(1)}.001.{version:02d} is not supported (.02 to .13 are)")
    return match.group(1), version


class _Group:
    """What the statements take from the message: its kind, ``GrpHdr/CreDtTm``, ``OrgnlBizQry/MsgId``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.created: str | None = None
        self.related: str | None = None
        self.read = False


def read(body: bytes, max_bytes: int) -> Generator[Event, None, None]:
    """Yield the statement events of a camt.053 body (see the module docstring).

    Raises :class:`~.errors.TranslationError` subclasses only; lxml errors are wrapped.
    """
    check_body(body, max_bytes)
    try:
        yield from _events(body)
    except etree.LxmlError as error:
        raise InvalidXml(f"XML is not well-formed: {error}") from error


class _Reader:
    """State of one pass over a body: the Document namespace, the open statement, counters."""

    def __init__(self) -> None:
        self.find: _Finder | None = None
        self.local: dict[str, str] = {}
        self.version = 0
        self.statements = 0
        self.apps: list[etree._Element] = []  # AppHdr elements started before the Document
        self.stmt: etree._Element | None = None  # the open statement
        self.stmt_tag = self.bal_tag = self.entry_tag = ""
        self.header: StatementHeader | None = None
        self.announced = False
        self.entries = 0
        self.skipped = 0  # leading children of the open statement known to be neither Bal nor Ntry
        self.codes: CodeCache = {}  # BkTxCd subtrees read so far
        self.rich_names: dict[str, str] = {}  # entry names with the :86: elements
        self.group = _Group("camt.053")
        self.info_tag = ""

    def started(self, element: etree._Element) -> Iterator[Event]:
        """A ``Document``, ``AppHdr`` or ``Stmt`` start tag (its content may not be parsed yet)."""
        tag = element.tag
        if self.find is None:
            local = tag.rpartition("}")[2]
            if local == "AppHdr":
                self.apps.append(element)
            elif local == "Document":
                yield from self._document(element)
        elif tag == self.stmt_tag:
            if self.stmt is not None:
                if any(ancestor is self.stmt for ancestor in element.iterancestors()):
                    name = tag.rpartition("}")[2]
                    raise NotCamt053(
                        f"{name}[{self.statements}] contains another {name}; {self.group.kind} "
                        f"statements are siblings"
                    )
                yield from self.scan(complete=True)
            if not self.group.read:
                self._group(element)
            self.statements += 1
            self.stmt, self.header, self.announced, self.entries, self.skipped = element, None, False, 0, 0

    def _document(self, document: etree._Element) -> Iterator[Event]:
        """The Document starts: the AppHdr elements that ended before it, then its namespace."""
        ancestors = set(document.iterancestors())
        for app in self.apps:
            if app not in ancestors:
                yield AppHeader(
                    sender_bic=text(app.find("{*}Fr/{*}FIId/{*}FinInstnId/{*}BICFI")),
                    receiver_bic=text(app.find("{*}To/{*}FIId/{*}FinInstnId/{*}BICFI")),
                )
        self.apps = []
        namespace = etree.QName(document).namespace or ""
        digit, self.version = _document_version(namespace)
        kind, statement, info = _STATEMENT[digit]
        self.group = _Group(kind)
        self.find = _Finder(namespace)
        self.local = entry_tags(namespace)
        self.rich_names = entry_tags(namespace, narrative=True)
        self.stmt_tag, self.bal_tag, self.entry_tag, self.info_tag = (
            _qualified(namespace, name) for name in (statement, "Bal", "Ntry", info)
        )

    def _group(self, stmt: etree._Element) -> None:
        """``GrpHdr`` (before the first statement, so complete when it starts)."""
        assert self.find is not None
        self.group.read = True
        parent = stmt.getparent()
        siblings = _children(parent, slice(None)) if parent is not None else []
        self.group.created = self.find.text(siblings, "GrpHdr/CreDtTm")
        self.group.related = self.find.text(siblings, "GrpHdr/OrgnlBizQry/MsgId")

    def _header(self, stmt: etree._Element, end: int) -> StatementHeader:
        """Read the header from the statement's first ``end`` children (those before any Bal/Ntry)."""
        assert self.find is not None
        self.header = _header(
            _children(stmt, slice(end)), self.find, self.statements, self.version, self.group
        )
        return self.header

    def scan(self, complete: bool) -> Iterator[Event]:
        """Read the open statement's children parsed so far (all of them when it is ``complete``)."""
        stmt = self.stmt
        if stmt is None:
            return
        skipped = self.skipped  # children before the first Bal or Ntry, already looked at
        children = _children(stmt, slice(skipped, None))
        if not complete and children:
            children.pop()  # the last child may still be open
        yield from self._read(stmt, children, skipped)
        count = len(children)
        del children  # no proxy may be left, so unlinking frees the subtrees
        if complete:
            yield from self._close(stmt)
        elif self.header is None:
            self.skipped += count  # no Bal or Ntry yet: kept for the header, not looked at again
        elif count:
            del stmt[: skipped + count]  # read, and the header before them: unlinking frees them
            self.skipped = 0

    def _read(self, stmt: etree._Element, children: list[etree._Element], skipped: int) -> Iterator[Event]:
        """Each ``Bal`` into the balances, the ``Ntry`` elements between them as one batch, in order."""
        assert self.find is not None
        header, find, entry_tag, bal_tag = self.header, self.find, self.entry_tag, self.bal_tag
        pending: list[etree._Element] = []
        for index, child in enumerate(children):
            tag = child.tag
            if tag == entry_tag:
                if not self.announced:
                    header = header or self._header(stmt, skipped + index)
                    self.announced = True
                    yield header
                pending.append(child)
            elif tag == bal_tag:
                header = header or self._header(stmt, skipped + index)
                if pending:
                    yield self._entries(pending)
                    pending = []
                path = f"{header.path}/Bal[{len(header.balances) + 1}]"
                header.balances.append(_balance(child, find, path))
            elif tag == self.info_tag:
                header = header or self._header(stmt, skipped + index)
                header.info = text(child)
        if pending:
            yield self._entries(pending)

    def _close(self, stmt: etree._Element) -> Iterator[Event]:
        header = self.header or self._header(stmt, len(stmt))
        if not self.announced:
            yield header
        yield StatementEnd(header)
        self.stmt = self.header = None
        _release(stmt)

    def _entries(self, pending: list[etree._Element]) -> list[Entry]:
        codes, first = self.codes, self.entries + 1
        if self.header is not None and self.header.rich:
            names = self.rich_names
            batch = [
                read_entry(element, names, number, codes, narrative=True)
                for number, element in enumerate(pending, first)
            ]
        else:
            names = self.local
            batch = [
                read_entry(element, names, number, codes) for number, element in enumerate(pending, first)
            ]
        self.entries += len(batch)
        return batch


def _events(body: bytes) -> Iterator[Event]:
    parser = etree.XMLPullParser(
        events=("start",),
        tag=("{*}Document", "{*}AppHdr", "{*}Stmt", "{*}Rpt"),
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    reader = _Reader()
    for offset in range(0, len(body), CHUNK_BYTES):
        parser.feed(body[offset : offset + CHUNK_BYTES])
        for _, element in parser.read_events():
            yield from reader.started(cast(etree._Element, element))
        yield from reader.scan(complete=False)
    parser.close()
    for _, element in parser.read_events():
        yield from reader.started(cast(etree._Element, element))
    yield from reader.scan(complete=True)
    if reader.find is None:
        raise NotCamt053("no ISO 20022 Document element found")
    if reader.statements == 0:
        if reader.group.kind == "camt.052":
            raise MissingElement("camt.052 Document has no Rpt (BkToCstmrAcctRpt/Rpt is mandatory)")
        raise MissingElement("camt.053 Document has no Stmt (BkToCstmrStmt/Stmt is mandatory)")
