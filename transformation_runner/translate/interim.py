"""MT942 (Interim Transaction Report) series from a camt.052 report: 34F, 13D, entries, 90D/90C, 86.

Fields (SWIFT User Handbook, MT942 "Format Specifications" and usage rules):

* 34F twice, ``3!a[1!a]15d``: the debit (``D``) and the credit (``C``) floor limit. camt.052 has no
  floor limit; the report lists every booked entry, so both are zero in the report's currency.
* 13D ``6!n4!n1!x4!n``: ``Rpt/CreDtTm``, else ``GrpHdr/CreDtTm``, as date, time and UTC offset. A
  date-time without an offset is written with ``+0000`` and reported ``defaulted`` (ISO 8601 local
  time does not say its offset).
* 90D / 90C ``5n3!a15d`` on every page: the number and sum of the page's debit entries (marks ``D``
  and ``RC``: a reversal of a credit is a debit) and of its credit entries (``C`` and ``RD``), read
  from the 61 lines as written.
* the closing 86 from ``AddtlRptInf`` on the last page.

The report's currency is ``Acct/Ccy``, else its first balance's, else its first entry's. A camt.052
balance has no home in MT942 and is reported ``dropped``.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from transformation_runner.translate import fields
from transformation_runner.translate.amounts import MAX_AMOUNT_LENGTH, format_amount, yymmdd
from transformation_runner.translate.errors import InvalidValue, MissingElement
from transformation_runner.translate.model import Entry
from transformation_runner.translate.narrative import statement_narrative
from transformation_runner.translate.writer import Fields, Page, SeriesWriter

FLOOR_LIMIT = Decimal(0)
_LARGEST_SUM = "99999XXX" + "9" * 14 + ","  # 5n3!a15d at its longest
_61_HEAD = re.compile(r"[0-9]{6}(?:[0-9]{4})?(RC|RD|C|D)[A-Z]?([0-9]+,[0-9]*)")
_DEBITS = frozenset(("D", "RC"))


def report_time(notes: fields.Notes, raw: str | None, path: str) -> str:
    """Field 13D from an ISO 8601 date-time (see the module docstring)."""
    if raw is None:
        raise MissingElement(f"{path}/CreDtTm and GrpHdr/CreDtTm (report time, field 13D) are missing")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError as error:
        raise InvalidValue(f"{path}/CreDtTm {raw!r} is not an ISO 8601 date-time") from error
    offset = moment.utcoffset()
    if offset is None:
        fields.note(notes, "13D", "defaulted", f"{path}/CreDtTm", original=raw, value="+0000")
        minutes = 0
    else:
        minutes = int(offset.total_seconds()) // 60
        if abs(minutes) > 14 * 60:  # ISO 8601 / IANA: offsets run from -12:00 to +14:00
            raise InvalidValue(f"{path}/CreDtTm {raw!r}: UTC offset beyond 14 hours")
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{yymmdd(moment.date())}{moment:%H%M}{sign}{hours:02d}{rest:02d}"


class ReportWriter(SeriesWriter):
    """One camt.052 report as an MT942 series."""

    def _start(self) -> None:
        header = self.header
        balances = [balance.currency for balance in header.balances if balance.currency]
        self.currency = header.account_currency or (balances[0] if balances else "")
        self._check_currency(f"{self.path}/Acct/Ccy")
        self.stamp = report_time(self.notes, header.created, self.path)
        floor = f"XXXD{format_amount(FLOOR_LIMIT)}"  # 34F, as long as it will be
        largest = [("90D", _LARGEST_SUM), ("90C", _LARGEST_SUM)]
        self.fixed = self._fixed([("34F", floor), ("34F", floor), ("13D", self.stamp)], largest)

    def add(self, entries: list[Entry]) -> list[Page]:
        """As :meth:`SeriesWriter.add`; the first entry with a currency gives one if none was known."""
        if not self.currency:
            for entry in entries:
                if entry.currency:
                    self.currency = entry.currency
                    self._check_currency(f"{self.path}/Ntry[{entry.number}]/Amt/@Ccy")
                    break
            else:
                self._no_currency()
        return super().add(entries)

    def _no_currency(self) -> None:
        raise MissingElement(
            f"{self.path} (report {self.header.statement_id!r}) states no currency "
            f"(Acct/Ccy, a Bal or an entry's Amt/@Ccy) for fields 34F and 90a"
        )

    def _opening(self) -> Fields:
        floor = format_amount(FLOOR_LIMIT)
        return [("34F", f"{self.currency}D{floor}"), ("34F", f"{self.currency}C{floor}"), ("13D", self.stamp)]

    def _closing(self) -> Fields:
        """90D and 90C: number and sum of the page's debit and credit entries, as written."""
        counts = {True: 0, False: 0}
        sums = {True: Decimal(0), False: Decimal(0)}
        for line in self.lines:
            match = _61_HEAD.match(line)
            assert match is not None  # every line is a 61 the writer built
            debit = match.group(1) in _DEBITS
            counts[debit] += 1
            sums[debit] += Decimal(match.group(2).replace(",", "."))
        return [("90D", self._sum(counts[True], sums[True])), ("90C", self._sum(counts[False], sums[False]))]

    def _sum(self, count: int, total: Decimal) -> str:
        text = format_amount(total)
        if len(text) > MAX_AMOUNT_LENGTH:
            raise InvalidValue(
                f"{self.path} page {self.page}: the sum {total} of its entries does not fit the "
                f"15-character SWIFT amount of field 90a"
            )
        return f"{count}{self.currency}{text}"

    def finish(self) -> list[Page]:
        """The last page(s): 90D/90C and the report's 86; every balance reported ``dropped``."""
        if not self.currency:
            self._no_currency()
        for balance in self.header.balances:
            fields.drop_balance(self.notes, balance)
        info = statement_narrative(self.notes, self.header.info, f"{self.path}/AddtlRptInf")
        return self._last(lambda: self._closing() + ([("86", info)] if info else []))
