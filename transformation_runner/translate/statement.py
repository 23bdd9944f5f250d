"""MT950 and MT940 series: the balances around the entries (60a, 62a, 64 and, in MT940, 65 and 86).

The first page opens with 60F, later pages with 60M (the previous page's closing); every page but the
last closes with 62M (the running balance), the last with 62F and 64, then in MT940 one 65 per
forward available balance and the statement's own 86 (SWIFT User Handbook, MT940 and MT950 usage
rules).

The statement's own balances are those without a sub-type (``Bal/Tp/SubTp``): an intermediate
balance (``INTM``) that a bank sending its statement in several messages lists before the final one
is not the statement's opening or closing, and is reported ``dropped`` like every balance with no
home in the message.

Balance modes: ``strict`` rejects a statement whose opening plus booked entries differs from its CLBD
(:class:`~.errors.Unbalanced`, naming the statement and the difference); ``as-sent`` writes the CLBD
as 62F anyway and records the difference in the report.
"""

from __future__ import annotations

from transformation_runner.translate import fields
from transformation_runner.translate.amounts import parse_date, yymmdd
from transformation_runner.translate.errors import InvalidValue, MissingElement, Unbalanced
from transformation_runner.translate.model import Balance
from transformation_runner.translate.narrative import statement_narrative
from transformation_runner.translate.writer import Fields, Page, SeriesWriter

OPENING_CODES = ("OPBD", "PRCD")
_LARGEST_BALANCE = "D991231XXX" + "9" * 14 + ","  # 1!a6!n3!a15d at its longest


class StatementWriter(SeriesWriter):
    """One camt.053 statement as an MT950 or MT940 series."""

    def _start(self) -> None:
        opening = self._opening_balance()
        self.currency = self.header.account_currency or opening.currency or ""
        self._check_currency(f"{self.path}/Acct/Ccy")
        if not self.currency:
            raise InvalidValue(f"{self.path}/Acct/Ccy '' is not an ISO 4217 currency code")
        self.running, self.opening_date, _ = fields.balance_field(opening, self.currency)
        self.used = {opening.path}
        self.open_field = "60F"
        self.open_text = fields.balance_text(self.running, self.opening_date, self.currency, opening.path)
        # Room for the closing 62a and 64 (64 counted as long as a 62a: one character to spare).
        self.fixed = self._fixed([("60F", _LARGEST_BALANCE)], [("62F", _LARGEST_BALANCE)] * 2)
        self.interim_date = self._interim_date()

    def _interim_date(self) -> str:
        """Date of 62M/60M: the CLBD's date when it is readable already, else the opening's."""
        closing = self._find("CLBD")
        when = parse_date(closing.date) if closing is not None and closing.date else None
        return yymmdd(when) if when is not None else self.opening_date

    def _own(self) -> list[Balance]:
        """The statement's own balances: those without a sub-type (``INTM`` and the like are not)."""
        return [balance for balance in self.header.balances if balance.subtype is None]

    def _find(self, *codes: str) -> Balance | None:
        own = self._own()
        for code in codes:
            for balance in own:
                if balance.code == code:
                    return balance
        return None

    def _opening_balance(self) -> Balance:
        opening = self._find(*OPENING_CODES)
        if opening is not None:
            return opening
        interim = self._find("ITBD")
        if interim is None or self.balance_mode != "as-sent":
            # Name the policy that would translate the file only when one would: with an ITBD.
            raise MissingElement(
                f"{self.path} (statement {self.header.statement_id!r}) has no opening booked balance "
                f"(Bal OPBD or PRCD without a sub-type) before its entries"
                + ("; the as-sent balance policy would open with its ITBD" if interim is not None else "")
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

    def _opening(self) -> Fields:
        return [(self.open_field, self.open_text)]

    def _closing(self) -> Fields:
        return [("62M", fields.balance_text(self.running, self.interim_date, self.currency, self.path))]

    def _next_page(self, tail: Fields) -> None:
        self.open_field, self.open_text = "60M", tail[0][1]

    def finish(self) -> list[Page]:
        """Close the series: check the arithmetic, write 62F (64, 65, 86), return the last page(s)."""
        closing = self._find("CLBD")
        if closing is None:
            raise MissingElement(
                f"{self.path} (statement {self.header.statement_id!r}) has no Bal CLBD without a sub-type"
            )
        amount, date, _ = fields.balance_field(closing, self.currency)
        self.used.add(closing.path)
        if amount != self.running:
            difference = amount - self.running
            if self.balance_mode != "as-sent":
                raise Unbalanced(
                    f"{self.path} (statement {self.header.statement_id!r}): opening plus booked entries "
                    f"is {self.running}, CLBD is {amount}, difference {difference} {self.currency}; "
                    "the as-sent balance policy would keep the CLBD and report the difference"
                )
            fields.note(
                self.notes, "62F", "adjusted", closing.path, original=str(self.running), value=str(amount)
            )
        tail = [("62F", fields.balance_text(amount, date, self.currency, self.path))]
        available = self._find("CLAV")
        if available is not None:
            tail.append(("64", self._balance(available)))
        if self.layout.narrative:  # MT940: 65 per forward available balance, the statement's 86
            tail += [("65", self._balance(b)) for b in self._own() if b.code == "FWAV"]
            info = statement_narrative(self.notes, self.header.info, f"{self.path}/AddtlStmtInf")
            if info:
                tail.append(("86", info))
        for balance in self.header.balances:
            if balance.path not in self.used:
                fields.drop_balance(self.notes, balance)
        return self._last(lambda: tail)

    def _balance(self, balance: Balance) -> str:
        value, when, _ = fields.balance_field(balance, self.currency)
        self.used.add(balance.path)
        return fields.balance_text(value, when, self.currency, balance.path)
