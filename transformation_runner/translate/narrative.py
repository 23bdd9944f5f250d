"""Field 86 (MT940, MT942): information to the account owner, ``6*65x``, per entry and per statement.

Per entry (after its 61), the parts that are present, in this order, each introduced by a codeword
(the slash-codeword style of SWIFT's structured narratives, e.g. MT103 field 72 and the bank
conventions for a structured ``:86:``; docs/translation.md, "Field 86"):

* ``/EREF/`` ``NtryDtls/TxDtls/Refs/EndToEndId`` (single-transaction entries; ``NOTPROVIDED`` skipped);
* ``/ORDP/`` the debtor's name and ``/ACCT/`` its account (``IBAN``, else ``Othr/Id``) for a credit,
  ``/BENM/`` the creditor's name and ``/ACCT/`` its account for a debit (first transaction's
  ``RltdPties``): the counterparty seen from the account owner;
* ``/REMI/`` every ``RmtInf/Ustrd`` of every transaction, space-separated;
* ``/ADDI/`` ``AddtlNtryInf``, then every ``TxDtls/AddtlTxInf``, space-separated.

Per statement: ``AddtlStmtInf`` (camt.053) or ``AddtlRptInf`` (camt.052) as it is.

Every part goes through the X set (each change a ``replaced`` finding with the element's path); the
text is cut into lines of 65, never starting a line with ``-`` or ``:`` (the line break moves one
character back instead); what does not fit 6 lines ends in ``+`` and is reported ``truncated`` with
the whole original text.
"""

from __future__ import annotations

from transformation_runner.translate.charset import PLAIN_X, to_x
from transformation_runner.translate.fields import NOT_PROVIDED, Notes
from transformation_runner.translate.model import Entry

LINES, WIDTH = 6, 65
_MAX = LINES * WIDTH


def _part(notes: Notes, parts: list[str], code: str, raw: str, where: tuple[str, int, str]) -> None:
    """``/code/value`` into ``parts``; a change is noted with the path ``where`` names (statement,
    entry number, element), built only then."""
    value = raw if PLAIN_X.fullmatch(raw) else to_x(raw)
    if value != raw:
        statement, number, element = where
        notes.append(("86", "replaced", f"{statement}/Ntry[{number}]/{element}", raw, value))
    if value:
        parts.append(f"/{code}/{value}")


def entry_narrative(notes: Notes, entry: Entry, statement: str) -> str:
    """The entry's field 86 content (lines joined by CRLF), or ``""`` when it has nothing to say.

    Runs once per entry: element paths are only built for a finding. A replacement in ``AddtlNtryInf``
    alone is reported once, for field 61 (its subfield 9 carries the same element and value).
    """
    story, number = entry.narrative, entry.number
    parts: list[str] = []
    reference = entry.end_to_end_id
    if reference and reference != NOT_PROVIDED and entry.transactions == 1:
        _part(notes, parts, "EREF", reference, (statement, number, "NtryDtls/TxDtls/Refs/EndToEndId"))
    infos = [entry.entry_info] if entry.entry_info else []
    if story is not None:
        credit = entry.indicator == "CRDT"
        role, (name, account) = ("Dbtr", story.debtor) if credit else ("Cdtr", story.creditor)
        parties = "NtryDtls/TxDtls/RltdPties"
        if name:
            _part(
                notes, parts, "ORDP" if credit else "BENM", name, (statement, number, f"{parties}/{role}/Nm")
            )
        if account:
            _part(notes, parts, "ACCT", account, (statement, number, f"{parties}/{role}Acct/Id"))
        if story.remittance:
            remittance = " ".join(story.remittance)
            _part(notes, parts, "REMI", remittance, (statement, number, "NtryDtls/TxDtls/RmtInf/Ustrd"))
        infos += story.infos
    if len(infos) == 1 and entry.entry_info:
        value = to_x(entry.entry_info)  # reported for 61 subfield 9 already, if changed
        if value:
            parts.append(f"/ADDI/{value}")
    elif infos:
        source = "AddtlNtryInf" if entry.entry_info else "NtryDtls/TxDtls/AddtlTxInf"
        _part(notes, parts, "ADDI", " ".join(infos), (statement, number, source))
    if not parts:
        return ""
    text = "".join(parts)
    if len(text) <= WIDTH:
        return text  # one line; it starts with "/"
    return wrap(notes, text, f"{statement}/Ntry[{number}]")


def statement_narrative(notes: Notes, raw: str | None, path: str) -> str:
    """The statement's closing field 86 from ``AddtlStmtInf``/``AddtlRptInf``, or ``""``."""
    if not raw:
        return ""
    value = to_x(raw)
    if value != raw:
        notes.append(("86", "replaced", path, raw, value))
    if value[:1] in {"-", ":"}:
        value = "." + value[1:]
        notes.append(("86", "replaced", path, raw, value))
    return wrap(notes, value, path) if value else ""


def wrap(notes: Notes, text: str, path: str) -> str:
    """``text`` in at most 6 lines of 65, CRLF-joined; no line starts with ``-`` or ``:``; a text
    that does not fit ends in ``+`` (reported ``truncated`` with the whole text)."""
    lines: list[str] = []
    position, length = 0, len(text)
    while position < length and len(lines) < LINES:
        end = min(position + WIDTH, length)
        while end < length and text[end] in "-:" and end > position + 1:
            end -= 1  # the next line would start with "-" or ":": break one character earlier
        if end < length and text[end] in "-:":  # a run of 65 such characters: one becomes "."
            notes.append(("86", "replaced", path, text, f"{text[:end]}.{text[end + 1 :]}"))
            text = text[:end] + "." + text[end + 1 :]
        lines.append(text[position:end])
        position = end
    if position < length:
        lines[-1] = lines[-1][:-1] + "+"
        notes.append(("86", "truncated", path, text, "\r\n".join(lines)))
    return "\r\n".join(lines)
