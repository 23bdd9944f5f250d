"""Writes one statement as an MT940, MT942 or MT950 series: pages of at most 2,000 characters, produced
as entries arrive. The rules every format shares live here, once: envelope, fields 20/21/25/28C,
field 61 (and 86), page cutting, the page's validation and its report.

Pagination (SWIFT User Handbook, MT940/MT942/MT950 usage rules): every page repeats its head (20,
21, 25, then 60a, or 34F and 13D in MT942) and numbers itself in 28C (``statement/page``, pages 1, 2,
3 ...). A page is closed as soon as the next entry would push the text block past 2,000 characters,
reserving room for the page's closing fields, so memory holds one page whatever the statement's size.
What only the last page carries (64, 65, the statement's 86) is checked when the statement ends: if
it does not fit, the entries so far close a page of their own and a last page without entries
follows. The subclasses (:mod:`.statement`, :mod:`.interim`) say what opens and closes a page.

The report flags references that became identical by truncation (two different sources cut to the
same 16 characters within one statement): a finding ``ambiguous`` for each line concerned.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from transformation_runner.translate import fields
from transformation_runner.translate.amounts import is_currency
from transformation_runner.translate.errors import InvalidValue, NoBic
from transformation_runner.translate.model import AppHeader, Entry, StatementHeader
from transformation_runner.translate.mt_format import MAX_BLOCK4, Layout, validate_page
from transformation_runner.translate.narrative import entry_narrative

_BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")
BOOKED = "BOOK"
Fields = list[tuple[str, str]]


@dataclass(frozen=True)
class Page:
    """One finished FIN message and its report entries."""

    message: str
    report: list[dict[str, object]]


def _bic(candidates: tuple[tuple[str, str | None], ...], role: str, statement: str) -> str:
    for path, value in candidates:
        if value:
            if not _BIC.fullmatch(value):
                raise InvalidValue(f"{path} {value!r} is not a BIC (ISO 9362)")
            return value
    raise NoBic(
        f"{statement}: no {role} BIC in AppHdr or Acct/{'Svcr' if role == 'sender' else 'Ownr'}; "
        f"give a default: the command line's --{role} BIC, the runner's DEFAULT_{role.upper()}_BIC setting"
    )


def parties(header: StatementHeader, app: AppHeader | None, sender: str, receiver: str) -> tuple[str, str]:
    """(sender, receiver) BIC of a statement: AppHdr, else the account's servicer/owner, else default."""
    path = header.path
    return (
        _bic(
            (
                ("AppHdr/Fr/FIId/FinInstnId/BICFI", app.sender_bic if app else None),
                (f"{path}/Acct/Svcr/FinInstnId", header.servicer_bic),
                ("configured sender BIC", sender),
            ),
            "sender",
            path,
        ),
        _bic(
            (
                ("AppHdr/To/FIId/FinInstnId/BICFI", app.receiver_bic if app else None),
                (f"{path}/Acct/Ownr", header.owner_bic),
                ("configured receiver BIC", receiver),
            ),
            "receiver",
            path,
        ),
    )


def _length(fields: Fields) -> int:
    """Characters the fields take in a text block: ``:tag:value`` and CRLF each."""
    return sum(len(tag) + len(value) + 4 for tag, value in fields)


def _terminal(bic: str, code: str) -> str:
    """12-character logical terminal address: BIC8, terminal code, branch (``XXX`` when absent)."""
    return f"{bic[:8]}{code}{bic[8:11] or 'XXX'}"


class SeriesWriter:
    """Turn one statement's events into pages; :meth:`add` and :meth:`finish` return pages.

    A subclass sets ``currency`` and ``fixed`` (with :meth:`_fixed`) in :meth:`_start`, and writes
    :meth:`_opening` (fields after 28C), :meth:`_closing` (a page cut by size) and :meth:`finish`.
    """

    layout: Layout

    def __init__(
        self,
        header: StatementHeader,
        layout: Layout,
        sender: str,
        receiver: str,
        balance_mode: str,
        *,
        message: int = 0,
    ) -> None:
        self.header = header
        self.layout = layout
        self.message = message  # index of the next page among all messages of the body
        self.path = header.path
        self.balance_mode = balance_mode
        self.notes: fields.Notes = []
        self.envelope = (
            f"{{1:F01{_terminal(sender, 'A')}0000000000}}{{2:I{layout.number}{_terminal(receiver, 'X')}N}}"
        )
        self.reference = fields.statement_reference(self.notes, self.path, header.statement_id)
        self.related = fields.related_reference(self.notes, header.related) if layout.related else ""
        self.account = fields.account(self.notes, self.path, header.iban, header.other_account_id)
        self.sequence = fields.sequence_number(
            self.notes, self.path, header.legal_sequence, header.electronic_sequence
        )
        self.narrative: Callable[[fields.Notes, Entry, str], str] | None = (
            entry_narrative if layout.narrative else None
        )
        self.currency = ""
        self.page = 1
        self.lines: list[str] = []
        self.size = 0
        self.running = Decimal(0)
        # Truncated references: (subfield, value) -> {path: original}, and the paths flagged ambiguous.
        self.truncated: dict[tuple[str, str], dict[str, str]] = {}
        self.flagged: set[str] = set()
        self.cuts: fields.Cuts = []  # filled by fields.statement_line, emptied by _ambiguous
        self.fixed = self.reserve = 0  # set by the subclass (see _fixed)
        self._start()

    def _start(self) -> None:
        """The subclass's part of the constructor (currency, opening, ``fixed``)."""
        raise NotImplementedError

    def _check_currency(self, path: str) -> None:
        """The series' currency, once known, must have the shape of an ISO 4217 code."""
        if self.currency and not is_currency(self.currency):
            raise InvalidValue(f"{path} {self.currency!r} is not an ISO 4217 currency code")

    def _fixed(self, opening: Fields, closing: Fields) -> int:
        """Characters of a page besides its entries, at most: the head with the largest page number and
        ``opening`` (fields after 28C, at their largest), room for the largest ``closing``, CRLF ``-``.
        Sets ``reserve`` (the closing's share)."""
        self.reserve = _length(closing)
        return _length(self._head(opening, page=99999)) + self.reserve + 3

    def _head(self, opening: Fields, page: int = 0) -> Fields:
        """20, 21 (when there is one), 25, 28C (this page, or ``page``), then ``opening``."""
        head = [("20", self.reference)]
        if self.related:
            head.append(("21", self.related))
        head += [("25", self.account), ("28C", f"{self.sequence}/{page or self.page}")]
        return head + opening

    def _opening(self) -> Fields:
        raise NotImplementedError

    def _closing(self) -> Fields:
        """The closing fields of a page cut by size (not the last)."""
        raise NotImplementedError

    def finish(self) -> list[Page]:
        """Close the series: the last page(s), once every entry was added."""
        raise NotImplementedError

    def add(self, entries: list[Entry]) -> list[Page]:
        """Map entries to field 61 (and 86) lines (booked entries only); return the pages they fill up.

        Runs once per batch of entries (see :mod:`.camt053`): the per-entry state is kept in local
        variables and written back before a page is cut and at the end.
        """
        statement_line, narrative, currency, path = (
            fields.statement_line,
            self.narrative,
            self.currency,
            self.path,
        )
        notes, lines, size, running = self.notes, self.lines, self.size, self.running
        room, cuts = MAX_BLOCK4 - self.fixed, self.cuts
        pages = []
        for entry in entries:
            status = entry.status
            if status is not None and status != BOOKED:
                fields.note(
                    notes, "61", "dropped", f"{path}/Ntry[{entry.number}]/Sts", original=status, value=None
                )
                continue
            mark = len(notes)
            amount, line = statement_line(notes, entry, currency, path, cuts)
            if cuts:
                self._ambiguous(notes, cuts)
            if narrative is not None:
                text = narrative(notes, entry, path)
                if text:
                    line = f"{line}\r\n:86:{text}"
            length = len(line) + 6  # CRLF ":61:" line
            if lines and size + length > room:
                # This entry opens the next page: its findings go with it.
                carried = notes[mark:]
                del notes[mark:]
                self.lines, self.size, self.running = lines, size, running
                pages.append(self._page(self._closing()))
                notes = self.notes = carried
                lines, size = self.lines, 0
            lines.append(line)
            size += length
            running += amount
        self.lines, self.size, self.running = lines, size, running
        return pages

    def _ambiguous(self, notes: fields.Notes, cuts: fields.Cuts) -> None:
        """Flag field 61 references that truncation made identical to a different one of this
        statement: one ``ambiguous`` finding per line concerned (the earlier ones on this page too)."""
        for subfield, path, original, value in cuts:
            seen = self.truncated.setdefault((subfield, value), {})
            others = [(other, raw) for other, raw in seen.items() if raw != original]
            if others:
                for other, raw in others:
                    if other not in self.flagged:
                        self.flagged.add(other)
                        notes.append(("61", "ambiguous", other, raw, value))
                self.flagged.add(path)
                notes.append(("61", "ambiguous", path, original, value))
            seen[path] = original
        cuts.clear()

    def _last(self, final: Callable[[], Fields]) -> list[Page]:
        """The last page(s): closed by ``final()``, after a page of its own for the entries when they
        and the final closing do not fit one page."""
        pages = []
        closing = final()
        if self.lines and self.fixed - self.reserve + self.size + _length(closing) > MAX_BLOCK4:
            pages.append(self._page(self._closing()))
            closing = final()
        pages.append(self._page(closing))
        return pages

    def _page(self, tail: Fields) -> Page:
        head = self._head(self._opening())
        text = [f":{name}:{value}" for name, value in head]
        joined = ":61:" + "\r\n:61:".join(self.lines) if self.lines else ""
        if joined:
            text.append(joined)
        text.extend(f":{name}:{value}" for name, value in tail)
        block4 = "\r\n" + "\r\n".join(text) + "\r\n-"
        validate_page(self.layout, block4, head, self.lines, tail, joined=joined)
        report: list[dict[str, object]] = [
            {
                "kind": "message",
                "format": self.layout.name,
                "statement": self.header.statement_id,
                "statement_number": self.header.number,
                "page": self.page,
                "entries": len(self.lines),
                "status": "TRAK" if self.notes else "TROK",
                "message": self.message,
            }
        ]
        statement, page, message = self.header.statement_id, self.page, self.message
        report += [
            {
                "kind": "finding",
                "statement": statement,
                "page": page,
                "field": field,
                "action": action,
                "path": path,
                "original": original,
                "value": value,
                "message": message,
            }
            for field, action, path, original, value in self.notes
        ]
        if self.page >= 99999:
            raise InvalidValue(f"{self.path}: more than 99999 {self.layout.name} pages")
        self.page += 1
        self.message += 1
        self._next_page(tail)
        self.lines, self.size, self.notes = [], 0, []
        return Page(self.envelope + "{4:" + block4 + "}", report)

    def _next_page(self, tail: Fields) -> None:
        """Carry what the next page opens with (60M = this page's 62M)."""
