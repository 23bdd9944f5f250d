"""Writes one ``Stmt`` as an MT950 series: pages of at most 2,000 characters, produced as entries arrive.

Pagination (SWIFT User Handbook, MT950 usage rules): every page repeats 20 and 25, numbers itself in
28C (``statement/page``, pages 1, 2, 3 ...), opens with 60F on the first page and 60M (the previous
page's closing) after, and closes with 62M on every page but the last, which carries 62F and 64.
A page is closed as soon as the next 61 would push the text block past 2,000 characters, reserving
room for the closing fields, so memory holds one page whatever the statement's size.

Balance modes: ``strict`` rejects a statement whose opening plus booked entries differs from its CLBD
(:class:`~.errors.Unbalanced`, naming the statement and the difference); ``as-sent`` writes the CLBD
as 62F anyway and records the difference in the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from transformation_runner.translate import fields
from transformation_runner.translate.amounts import is_currency, parse_date, yymmdd
from transformation_runner.translate.errors import InvalidValue, MissingElement, NoBic, Unbalanced
from transformation_runner.translate.model import AppHeader, Balance, Entry, StatementHeader
from transformation_runner.translate.mt950_format import MAX_BLOCK4, validate_page

_BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Z0-9]{3})?")
_BALANCE_LINE_MAX = len(":62F:") + 1 + 6 + 3 + 15 + 2
_CLOSING_RESERVE = 2 * _BALANCE_LINE_MAX + 1
OPENING_CODES = ("OPBD", "PRCD")
BOOKED = "BOOK"


@dataclass(frozen=True)
class Page:
    """One finished MT950 message and its report entries."""

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


def _terminal(bic: str, code: str) -> str:
    """12-character logical terminal address: BIC8, terminal code, branch (``XXX`` when absent)."""
    return f"{bic[:8]}{code}{bic[8:11] or 'XXX'}"


class SeriesWriter:
    """Turn one statement's events into MT950 pages; :meth:`add` and :meth:`finish` yield pages."""

    def __init__(
        self,
        header: StatementHeader,
        app: AppHeader | None,
        sender_default: str,
        receiver_default: str,
        balance_mode: str,
        *,
        message: int = 0,
    ) -> None:
        self.header = header
        self.message = message  # index of the next page among all messages of the body
        self.path = header.path
        self.balance_mode = balance_mode
        self.notes: fields.Notes = []
        sender = _bic(
            (
                ("AppHdr/Fr/FIId/FinInstnId/BICFI", app.sender_bic if app else None),
                (f"{self.path}/Acct/Svcr/FinInstnId", header.servicer_bic),
                ("configured sender BIC", sender_default),
            ),
            "sender",
            self.path,
        )
        receiver = _bic(
            (
                ("AppHdr/To/FIId/FinInstnId/BICFI", app.receiver_bic if app else None),
                (f"{self.path}/Acct/Ownr", header.owner_bic),
                ("configured receiver BIC", receiver_default),
            ),
            "receiver",
            self.path,
        )
        self.envelope = f"{{1:F01{_terminal(sender, 'A')}0000000000}}{{2:I950{_terminal(receiver, 'X')}N}}"
        self.reference = fields.statement_reference(self.notes, self.path, header.statement_id)
        self.account = fields.account(self.notes, self.path, header.iban, header.other_account_id)
        self.sequence = fields.sequence_number(
            self.notes, self.path, header.legal_sequence, header.electronic_sequence
        )
        opening = self._opening()
        self.currency = header.account_currency or opening.currency or ""
        if not is_currency(self.currency):
            raise InvalidValue(f"{self.path}/Acct/Ccy {self.currency!r} is not an ISO 4217 currency code")
        self.running, self.opening_date, _ = fields.balance_field(opening, self.currency)
        self.used = {opening.path}
        self.page = 1
        self.lines: list[str] = []
        self.size = 0
        self.open_field = "60F"
        self.open_text = fields.balance_text(self.running, self.opening_date, self.currency, opening.path)
        self.fixed = sum(
            len(line) + 2
            for line in (f":20:{self.reference}", f":25:{self.account}", f":28C:{self.sequence}/99999")
        )
        self.fixed += _BALANCE_LINE_MAX + _CLOSING_RESERVE + 2
        self.interim_date = self._interim_date()

    def _interim_date(self) -> str:
        """Date of 62M/60M: the CLBD's date when it is readable already, else the opening's."""
        closing = self._find("CLBD")
        when = parse_date(closing.date) if closing is not None and closing.date else None
        return yymmdd(when) if when is not None else self.opening_date

    def _find(self, *codes: str) -> Balance | None:
        for code in codes:
            for balance in self.header.balances:
                if balance.code == code:
                    return balance
        return None

    def _opening(self) -> Balance:
        opening = self._find(*OPENING_CODES)
        if opening is not None:
            return opening
        interim = self._find("ITBD") if self.balance_mode == "as-sent" else None
        if interim is None:
            raise MissingElement(
                f"{self.path} (statement {self.header.statement_id!r}) has no opening booked balance "
                f"(Bal OPBD or PRCD) before its entries"
                + ("" if self.balance_mode == "as-sent" else "; as-sent mode would use ITBD")
            )
        fields.note(
            self.notes,
            "60F",
            "defaulted",
            interim.path,
            original="ITBD",
            value="opening balance taken from ITBD",
        )
        return interim

    def add(self, entries: list[Entry]) -> list[Page]:
        """Map entries to field 61 lines (booked entries only); return the pages they fill up.

        Runs once per batch of entries (see :mod:`.camt053`): the per-entry state is kept in local
        variables and written back before a page is cut and at the end.
        """
        statement_line, currency, path = fields.statement_line, self.currency, self.path
        notes, lines, size, running = self.notes, self.lines, self.size, self.running
        room = MAX_BLOCK4 - self.fixed
        pages = []
        for entry in entries:
            status = entry.status
            if status is not None and status != BOOKED:
                fields.note(
                    notes, "61", "dropped", f"{path}/Ntry[{entry.number}]/Sts", original=status, value=None
                )
                continue
            mark = len(notes)
            amount, line = statement_line(notes, entry, currency, path)
            length = len(line) + 6  # CRLF ":61:" line
            if lines and size + length > room:
                # This entry opens the next page: its findings go with it.
                carried = notes[mark:]
                del notes[mark:]
                self.lines, self.size, self.running = lines, size, running
                pages.append(self._page(running, "62M", self.interim_date, last=None))
                notes = self.notes = carried
                lines, size = self.lines, 0
            lines.append(line)
            size += length
            running += amount
        self.lines, self.size, self.running = lines, size, running
        return pages

    def finish(self) -> Page:
        """Close the series: check the arithmetic, write 62F (and 64), return the last page."""
        closing = self._find("CLBD")
        if closing is None:
            raise MissingElement(f"{self.path} (statement {self.header.statement_id!r}) has no Bal CLBD")
        amount, date, _ = fields.balance_field(closing, self.currency)
        self.used.add(closing.path)
        if amount != self.running:
            difference = amount - self.running
            if self.balance_mode != "as-sent":
                raise Unbalanced(
                    f"{self.path} (statement {self.header.statement_id!r}): opening plus booked entries "
                    f"is {self.running}, CLBD is {amount}, difference {difference} {self.currency}"
                )
            fields.note(
                self.notes, "62F", "adjusted", closing.path, original=str(self.running), value=str(amount)
            )
        available = self._find("CLAV")
        last = None
        if available is not None:
            value, when, _ = fields.balance_field(available, self.currency)
            last = fields.balance_text(value, when, self.currency, available.path)
            self.used.add(available.path)
        for balance in self.header.balances:
            if balance.path not in self.used:
                original = f"{balance.code} {balance.indicator} {balance.amount} {balance.currency}"
                fields.note(self.notes, "-", "dropped", balance.path, original=original, value=None)
        return self._page(amount, "62F", date, last=last or "")

    def _page(self, closing: Decimal, tag: str, date: str, last: str | None) -> Page:
        close = fields.balance_text(closing, date, self.currency, self.path)
        head = [
            ("20", self.reference),
            ("25", self.account),
            ("28C", f"{self.sequence}/{self.page}"),
            (self.open_field, self.open_text),
        ]
        tail = [(tag, close), ("64", last)] if last else [(tag, close)]
        text = [f":{name}:{value}" for name, value in head]
        joined = ":61:" + "\r\n:61:".join(self.lines) if self.lines else ""
        if joined:
            text.append(joined)
        text.extend(f":{name}:{value}" for name, value in tail)
        block4 = "\r\n" + "\r\n".join(text) + "\r\n-"
        validate_page(block4, head, self.lines, tail, joined)
        report: list[dict[str, object]] = [
            {
                "kind": "message",
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
            raise InvalidValue(f"{self.path}: more than 99999 MT950 pages")
        self.page += 1
        self.message += 1
        self.open_field, self.open_text = "60M", close
        self.lines, self.size, self.notes = [], 0, []
        return Page(self.envelope + "{4:" + block4 + "}", report)
