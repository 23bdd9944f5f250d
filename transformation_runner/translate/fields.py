"""camt.053/camt.052 values → MT field contents shared by MT940, MT942 and MT950, one function per
field, each noting what it changed.

Every function returns the field content and appends findings (``truncated``, ``replaced``,
``dropped``, ``defaulted``) with the source path and original value to ``notes``. The mapping follows
the published camt.053 → MT940/MT950 translation rules (SWIFT CBPR+ translation portal, as followed by
open implementations); choices are written down in docs/translation.md.
"""

from __future__ import annotations

import re
from decimal import Decimal

from transformation_runner.translate.amounts import (
    MAX_AMOUNT_LENGTH,
    amount_text,
    format_amount,
    minor_units,
    swift_date,
)
from transformation_runner.translate.charset import to_x, truncate
from transformation_runner.translate.codes import transaction_type
from transformation_runner.translate.errors import InvalidValue, MissingElement, MixedCurrency
from transformation_runner.translate.model import Balance, Entry
from transformation_runner.translate.mt_format import validate_reference

Notes = list[tuple[str, str, str, object, object]]  # (field, action, path, original, value)
Cuts = list[tuple[str, str, str, str]]  # truncated 61 references: (subfield, path, original, value)
NOT_PROVIDED = "NOTPROVIDED"
NONREF = "NONREF"
_BOOLEAN = {None: False, "false": False, "0": False, "true": True, "1": True}  # RvslInd, absent: False
# A 16x reference that needs no change at all: X characters only, no space at either end and no two in
# a row (so to_x() returns it unchanged), no "/" at either end and no "//" (the slash rule).
_PLAIN_REFERENCE = re.compile(
    r"(?!.*(?://|  ))[A-Za-z0-9\-?:().,'+](?:[A-Za-z0-9/\-?:().,'+ ]{0,14}[A-Za-z0-9\-?:().,'+])?"
)


def note(notes: Notes, field: str, action: str, path: str, *, original: object, value: object) -> None:
    """Record one finding (the per-message report entries are built from these)."""
    notes.append((field, action, path, original, value))


def text_field(notes: Notes, field: str, path: str, raw: str, length: int, *, value: str = "") -> str:
    """X-set text of at most ``length`` characters, cut with a final ``+`` (``value``: ``to_x(raw)``)."""
    value = value or to_x(raw)
    if value != raw:
        note(notes, field, "replaced", path, original=raw, value=value)
    cut = truncate(value, length)
    if cut != value:
        note(notes, field, "truncated", path, original=raw, value=cut)
    return cut


def statement_reference(notes: Notes, path: str, raw: str | None) -> str:
    """Field 20 from ``Stmt/Id`` (``Rpt/Id``): 16x, no leading/trailing ``/``, no ``//``, over 16 →
    15 + ``+``."""
    if raw is None:
        raise MissingElement(f"{path}/Id (statement identification) is missing")
    value = _slash_reference(notes, "20", f"{path}/Id", raw)
    if not value:
        raise InvalidValue(f"{path}/Id {raw!r} leaves no usable field 20 reference")
    return value


def related_reference(notes: Notes, raw: str | None) -> str:
    """Field 21 (MT940, MT942) from ``GrpHdr/OrgnlBizQry/MsgId``, the request the statement answers:
    field 20's rules; ``""`` (no field 21) when absent, or dropped (reported) when nothing is left."""
    if raw is None:
        return ""
    value = _slash_reference(notes, "21", "GrpHdr/OrgnlBizQry/MsgId", raw)
    if not value:
        note(notes, "21", "dropped", "GrpHdr/OrgnlBizQry/MsgId", original=raw, value=None)
    return value


def _slash_reference(notes: Notes, field: str, path: str, raw: str) -> str:
    """X set, ``//`` collapsed, ``/`` stripped at both ends, over 16 → 15 + ``+`` (each noted)."""
    value = to_x(raw)
    while "//" in value:
        value = value.replace("//", "/")
    value = value.strip("/")
    if not value:
        return ""
    if value != raw:
        note(notes, field, "replaced", path, original=raw, value=value)
    cut = truncate(value, 16)
    if cut != value:
        note(notes, field, "truncated", path, original=raw, value=cut)
    return cut


def account(notes: Notes, path: str, iban: str | None, other: str | None) -> str:
    """Field 25 from ``Acct/Id/IBAN``, else ``Acct/Id/Othr/Id``, else ``NOTPROVIDED``."""
    if iban:
        return text_field(notes, "25", f"{path}/Acct/Id/IBAN", iban, 35)
    if other:
        return text_field(notes, "25", f"{path}/Acct/Id/Othr/Id", other, 35)
    note(notes, "25", "defaulted", f"{path}/Acct/Id", original=None, value=NOT_PROVIDED)
    return NOT_PROVIDED


def sequence_number(notes: Notes, path: str, legal: str | None, electronic: str | None) -> str:
    """Field 28C statement number: ``LglSeqNb`` if ≤ 5 digits, else ``ElctrncSeqNb`` if so, else ``1``."""
    for raw in (legal, electronic):
        if raw is not None and raw.isascii() and raw.isdigit() and len(raw) <= 5:
            return raw
    note(notes, "28C", "defaulted", f"{path}/LglSeqNb", original=legal or electronic, value="1")
    return "1"


def signed_amount(raw: str | None, indicator: str | None, currency: str, path: str) -> tuple[Decimal, str]:
    """An ``Amt``/``CdtDbtInd`` pair as (signed amount, SWIFT text), checked against the currency."""
    if raw is None:
        raise MissingElement(f"{path}/Amt is missing")
    parsed = amount_text(raw, currency)
    if parsed is None:
        raise InvalidValue(f"{path}/Amt {raw!r} is not a non-negative decimal amount")
    value, text = parsed
    if len(text) - text.index(",") - 1 > minor_units(currency):
        raise InvalidValue(f"{path}/Amt {raw!r} has more decimals than {currency} allows")
    if len(text) > MAX_AMOUNT_LENGTH:
        raise InvalidValue(f"{path}/Amt {raw!r} does not fit the 15-character SWIFT amount")
    if indicator == "CRDT":
        return value, text
    if indicator == "DBIT":
        return -value, text
    raise InvalidValue(f"{path}/CdtDbtInd {indicator!r} is neither CRDT nor DBIT")


def balance_field(balance: Balance, currency: str) -> tuple[Decimal, str, str]:
    """(signed amount, YYMMDD, currency) of a balance, checked; for fields 60F, 62F, 64 and 65."""
    if balance.currency is not None and balance.currency != currency:
        raise MixedCurrency(
            f"{balance.path} ({balance.code}) is in {balance.currency}, the statement in {currency}"
        )
    amount, _ = signed_amount(balance.amount, balance.indicator, currency, balance.path)
    if balance.date is None:
        raise MissingElement(f"{balance.path}/Dt ({balance.code} date) is missing")
    when = swift_date(balance.date)
    if when is None:
        raise InvalidValue(f"{balance.path}/Dt {balance.date!r} is not an ISO 8601 date")
    return amount, when, currency


def drop_balance(notes: Notes, balance: Balance) -> None:
    """Report a balance the message has no field for (or that is not the statement's own)."""
    kind = f"{balance.code}/{balance.subtype}" if balance.subtype else balance.code
    original = f"{kind} {balance.indicator} {balance.amount} {balance.currency}"
    note(notes, "-", "dropped", balance.path, original=original, value=None)


def balance_text(amount: Decimal, date: str, currency: str, path: str) -> str:
    """``1!a6!n3!a15d``: D/C mark, date, currency, amount (zero is a credit)."""
    text = format_amount(amount)
    if len(text) > MAX_AMOUNT_LENGTH:
        raise InvalidValue(f"{path}: running balance {amount} does not fit the 15-character SWIFT amount")
    return f"{'D' if amount < 0 else 'C'}{date}{currency}{text}"


def _reference(notes: Notes, entry: Entry, path: str, cuts: Cuts) -> str:
    if entry.transactions > 1:
        first, second = ("NtryRef", entry.entry_reference), ("NtryDtls/Btch/PmtInfId", entry.batch_id)
    elif entry.indicator == "CRDT":
        first = ("NtryDtls/TxDtls/Refs/EndToEndId", entry.end_to_end_id)
        second = ("NtryRef", entry.entry_reference)
    else:
        first = ("NtryDtls/TxDtls/Refs/InstrId", entry.instruction_id)
        second = ("NtryRef", entry.entry_reference)
    for name, raw in (first, second):
        if raw is None or raw == NOT_PROVIDED:
            continue
        value = to_x(raw)
        if not validate_reference(value):
            note(notes, "61", "replaced", f"{path}/{name}", original=raw, value=NONREF)
            return NONREF
        cut = text_field(notes, "61", f"{path}/{name}", raw, 16, value=value)
        if len(value) > len(cut):
            cuts.append(("7", f"{path}/{name}", raw, cut))
        return cut
    return NONREF


def statement_line(  # noqa: PLR0912 - the per-entry hot path, kept flat
    notes: Notes, entry: Entry, currency: str, statement: str, cuts: Cuts
) -> tuple[Decimal, str]:
    """Field 61 (with subfield 9 on its second line) and the entry's signed amount; a reference of
    subfield 7 or 8 cut to 16 characters is also added to ``cuts``.

    Runs once per entry: the references and the details take an inline path when they need no
    change (nothing to note), and the general helpers otherwise; both give the same result.
    """
    path = f"{statement}/Ntry[{entry.number}]"
    if entry.currency is not None and entry.currency != currency:
        raise MixedCurrency(f"{path}/Amt is in {entry.currency}, the statement in {currency}")
    amount, amount_swift = signed_amount(entry.amount, entry.indicator, currency, path)
    reversal = _BOOLEAN.get(entry.reversal)
    if reversal is None:
        raise InvalidValue(f"{path}/RvslInd {entry.reversal!r} is not a boolean")
    raw_date = entry.value_date or entry.booking_date
    if raw_date is None:
        raise MissingElement(f"{path}/ValDt (value date) is missing and there is no BookgDt")
    if entry.value_date is None:
        note(notes, "61", "defaulted", f"{path}/ValDt", original=None, value=raw_date)
    value_date = swift_date(raw_date)
    booking = entry.booking_date
    booking_date = (value_date if booking == raw_date else swift_date(booking)) if booking else ""
    if value_date is None or booking_date is None:
        raise InvalidValue(f"{path}: date {entry.value_date or entry.booking_date!r} is not ISO 8601")
    debit = entry.indicator == "DBIT"
    mark = ("RC" if reversal else "D") if debit else ("RD" if reversal else "C")
    code = transaction_type(entry.proprietary_code, entry.domain, entry.family, entry.subfamily)
    if entry.transactions > 1:
        first = entry.entry_reference
    else:
        first = entry.end_to_end_id if entry.indicator == "CRDT" else entry.instruction_id
    if first is None or first == NOT_PROVIDED or _PLAIN_REFERENCE.fullmatch(first) is None:
        reference = _reference(notes, entry, path, cuts)
    else:
        reference = first
    line = f"{value_date}{booking_date[2:]}{mark}{amount_swift}{code}{reference}"
    servicer = entry.servicer_reference
    if servicer and servicer != NOT_PROVIDED:
        if _PLAIN_REFERENCE.fullmatch(servicer) is None:
            line += _servicer_reference(notes, servicer, path, cuts)
        else:
            line += "//" + servicer
    info = entry.entry_info or entry.transaction_info
    if not info:
        return amount, line
    # Subfield 9 (34x) from AddtlNtryInf, else the first TxDtls/AddtlTxInf; every change a finding.
    details = to_x(info)
    if details != info or len(details) > 34 or details[0] in "-:":
        source = f"{path}/{'AddtlNtryInf' if entry.entry_info else 'NtryDtls/TxDtls/AddtlTxInf'}"
        if details != info:
            notes.append(("61", "replaced", source, info, details))
        if len(details) > 34:
            details = truncate(details, 34)
            notes.append(("61", "truncated", source, info, details))
        if details[0] in "-:":  # no content line may start with "-" or ":"
            details = "." + details[1:]
            notes.append(("61", "replaced", source, info, details))
    return amount, f"{line}\r\n{details}"


def _servicer_reference(notes: Notes, servicer: str, path: str, cuts: Cuts) -> str:
    """``//`` and subfield 8 from ``AcctSvcrRef``, or nothing (reported) when it breaks the slash rule."""
    value = to_x(servicer)
    if validate_reference(value):
        if value != servicer or len(value) > 16:
            cut = text_field(notes, "61", f"{path}/AcctSvcrRef", servicer, 16, value=value)
            if len(value) > len(cut):
                cuts.append(("8", f"{path}/AcctSvcrRef", servicer, cut))
            value = cut
        return "//" + value
    note(notes, "61", "dropped", f"{path}/AcctSvcrRef", original=servicer, value=None)
    return ""
