"""Reading one camt.053/camt.052 ``Ntry`` into an :class:`~.model.Entry`, touching only what is mapped.

Called by :mod:`.camt053` for each complete entry. Elements are matched by their qualified tag in one
dict lookup (no ElementPath), and only ``BkTxCd``, ``NtryDtls/Btch`` and the first
``NtryDtls/TxDtls/Refs`` are descended into for field 61: for MT950, related parties, remittance
information and the like are never visited, which keeps the per-entry cost flat however rich the
entry is. For MT940 and MT942 (``narrative``) every ``TxDtls`` is also read for the ``:86:``: its
``RltdPties`` (first transaction), ``RmtInf/Ustrd`` and ``AddtlTxInf``.

Rules (unchanged by the fast path below): a repeated element overwrites the earlier one; a choice
(``Sts``, ``BookgDt``, ``ValDt``) takes its first child's text, else its own; every value is stripped
and a blank one counts as absent; references come from the entry's first ``TxDtls`` only, while
``transactions`` counts every ``TxDtls`` of every ``NtryDtls``.

Performance: this runs once per entry (50,000 times for a large statement), so values are kept in
local variables and stripped as they are read, and the entry is built with positional arguments;
each touched element costs lxml a proxy, a tag string and a text string, and nothing more is done.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from lxml import etree

from transformation_runner.translate.model import Entry, Narrative


def text(element: etree._Element | None) -> str | None:
    """Stripped text of an element; None when absent or blank."""
    if element is None or element.text is None:
        return None
    value = element.text.strip()
    return value or None


_ENTRY_TAGS = (
    *("Amt", "CdtDbtInd", "RvslInd", "Sts", "BookgDt", "ValDt", "AcctSvcrRef", "NtryRef", "BkTxCd"),
    *("NtryDtls", "AddtlNtryInf", "Cd", "Prtry", "Domn", "Fmly", "SubFmlyCd", "Btch", "PmtInfId"),
    *("TxDtls", "Refs", "InstrId", "EndToEndId", "AddtlTxInf"),
)
# Read for the :86: only (MT940, MT942): absent from the MT950 names, so never looked at there.
_STORY = frozenset(("RmtInf", "AddtlTxInf", "RltdPties"))
_NARRATIVE_TAGS = (
    *("RltdPties", "RmtInf", "Ustrd", "Dbtr", "Cdtr", "DbtrAcct", "CdtrAcct", "Pty", "Nm", "Id"),
    *("IBAN", "Othr"),
)


# element[:]: the children as one list built in C, cheaper than iterating the element (which creates
# an iterator object); itemgetter calls it without a Python frame. (lxml-stubs do not type the slice.)
children_of: Callable[[etree._Element], list[etree._Element]] = operator.itemgetter(slice(None))


def entry_tags(namespace: str, narrative: bool = False) -> dict[str, str]:
    """Qualified tag → local name for the elements an entry is read from (``narrative``: also the
    elements of its ``:86:``)."""
    names = (*_ENTRY_TAGS, *_NARRATIVE_TAGS) if narrative else _ENTRY_TAGS
    return {f"{{{namespace}}}{name}": name for name in names}


def _clean(value: str | None) -> str | None:
    """Stripped value; None when absent or blank."""
    return (value and value.strip()) or None


def read_entry(  # noqa: PLR0912, PLR0915 - one flat dispatch
    ntry: etree._Element,
    names: dict[str, str],
    number: int,
    codes: CodeCache | None = None,
    narrative: bool = False,
) -> Entry:
    """Read one ``Ntry``, touching only the elements field 61 needs (never RltdPties, RmtInf, ...).

    ``codes`` remembers what each distinct ``BkTxCd`` subtree reads as, keyed by its serialisation
    (the subtree is all the reading depends on); statements repeat a handful of codes, and one
    serialisation costs less than walking the five or more elements of the subtree.
    """
    amount = currency = indicator = reversal = status = value_date = booking_date = None
    servicer = entry_reference = entry_info = None
    code: _Code = _NO_CODE
    details: _Details = (None, None, None, None, 0, None)
    get = names.get
    for child in children_of(ntry):
        name = get(child.tag)
        if name is None:
            continue
        if name == "Amt":
            value = child.text
            amount = (value and value.strip()) or None
            value = child.get("Ccy")
            currency = (value and value.strip()) or None
        elif name == "CdtDbtInd":
            value = child.text
            indicator = (value and value.strip()) or None
        elif name == "ValDt":
            value = child[0].text if len(child) else child.text
            value_date = (value and value.strip()) or None
        elif name == "BookgDt":
            value = child[0].text if len(child) else child.text
            booking_date = (value and value.strip()) or None
        elif name == "Sts":
            value = child[0].text if len(child) else child.text
            status = (value and value.strip()) or None
        elif name == "AcctSvcrRef":
            value = child.text
            servicer = (value and value.strip()) or None
        elif name == "BkTxCd":
            if codes is None or code is not _NO_CODE:  # a repeated BkTxCd reads on from the first
                code = _bank_transaction_code(child, names, code)
            else:
                key = etree.tostring(child, with_tail=False)
                read = codes.get(key)
                if read is None:
                    if len(codes) >= _MAX_CODES:
                        codes.clear()
                    read = codes[key] = _bank_transaction_code(child, names, _NO_CODE)
                code = read
        elif name == "NtryDtls":
            details = _details(child, names, details, narrative)
        elif name == "AddtlNtryInf":
            value = child.text
            entry_info = (value and value.strip()) or None
        elif name == "NtryRef":
            entry_reference = _clean(child.text)
        elif name == "RvslInd":
            reversal = _clean(child.text)
    instruction, end_to_end, batch, transaction_info, transactions, story = details
    proprietary, domain, family, subfamily = code
    return Entry(
        number,
        amount,
        currency,
        indicator,
        reversal,
        status,
        value_date,
        booking_date,
        servicer,
        entry_reference,
        instruction,
        end_to_end,
        batch,
        transactions,
        proprietary,
        domain,
        family,
        subfamily,
        entry_info,
        transaction_info,
        story,
    )


# (Prtry/Cd, Domn/Cd, Domn/Fmly/Cd, Domn/Fmly/SubFmlyCd)
_Code = tuple[str | None, str | None, str | None, str | None]
_NO_CODE: _Code = (None, None, None, None)
_MAX_CODES = 4096  # distinct BkTxCd subtrees remembered per body (about 1 MB at most)
CodeCache = dict[bytes, _Code]  # serialised BkTxCd -> what it reads as (see read_entry)
# (InstrId, EndToEndId, Btch/PmtInfId, AddtlTxInf, TxDtls count, what the :86: tells if anything)
_Details = tuple[str | None, str | None, str | None, str | None, int, Narrative | None]


def _bank_transaction_code(code: etree._Element, names: dict[str, str], found: _Code) -> _Code:
    """``BkTxCd``: ``Prtry/Cd`` → ``Prtry``; ``Domn/Cd``, ``Domn/Fmly/Cd``, ``Domn/Fmly/SubFmlyCd``."""
    proprietary, domain, family, subfamily = found
    for part in code:
        name = names.get(part.tag)
        if name == "Domn":
            for item in part:
                key = names.get(item.tag)
                if key == "Cd":
                    domain = _clean(item.text)
                elif key == "Fmly":
                    for sub in item:
                        subkey = names.get(sub.tag)
                        if subkey == "Cd":
                            family = _clean(sub.text)
                        elif subkey == "SubFmlyCd":
                            subfamily = _clean(sub.text)
        elif name == "Prtry":
            proprietary = _clean(next((c.text for c in part if names.get(c.tag) == "Cd"), None))
    return proprietary, domain, family, subfamily


def _details(  # noqa: PLR0912 - one flat dispatch per entry
    details: etree._Element, names: dict[str, str], found: _Details, narrative: bool = False
) -> _Details:
    """``NtryDtls``: batch id; ``Refs/InstrId``, ``Refs/EndToEndId`` and ``AddtlTxInf`` of the first
    ``TxDtls``; ``TxDtls`` counted; with ``narrative``, every ``TxDtls`` read for the :86:."""
    instruction, end_to_end, batch, info, count, story = found
    get = names.get
    for part in children_of(details):
        name = get(part.tag)
        if name == "TxDtls":
            count += 1
            if count > 1:
                if narrative:
                    story = _story(part, names, story)
                continue
            for child in children_of(part):
                key = get(child.tag)
                if key == "Refs":
                    for ref in children_of(child):
                        key = get(ref.tag)
                        if key == "InstrId":
                            instruction = _clean(ref.text)
                        elif key == "EndToEndId":
                            end_to_end = _clean(ref.text)
                else:
                    if key == "AddtlTxInf":
                        info = _clean(child.text)
                    if narrative and key in _STORY:
                        story = _story_part(child, key, names, story, first=True)
        elif name == "Btch":
            batch = _clean(next((c.text for c in part if names.get(c.tag) == "PmtInfId"), None))
    return instruction, end_to_end, batch, info, count, story


def _story(transaction: etree._Element, names: dict[str, str], story: Narrative | None) -> Narrative | None:
    """A second or later ``TxDtls`` into ``story``: its ``Ustrd`` and ``AddtlTxInf``."""
    get = names.get
    for child in children_of(transaction):
        key = get(child.tag)
        if key in _STORY:
            story = _story_part(child, key, names, story, first=False)
    return story


def _story_part(
    child: etree._Element, key: str | None, names: dict[str, str], story: Narrative | None, first: bool
) -> Narrative:
    """One ``RmtInf``, ``AddtlTxInf`` or (first transaction only) ``RltdPties`` into ``story``; the
    :class:`Narrative` is made when the first of them is met."""
    get = names.get
    if story is None:
        story = Narrative()
    if key == "RmtInf":
        story.remittance.extend(
            value for part in children_of(child) if get(part.tag) == "Ustrd" if (value := _clean(part.text))
        )
    elif key == "AddtlTxInf":
        value = _clean(child.text)
        if value:
            story.infos.append(value)
    elif key == "RltdPties" and first:
        for party in children_of(child):
            role = get(party.tag)
            if role == "Dbtr":
                story.debtor = (_party_name(party, names), story.debtor[1])
            elif role == "Cdtr":
                story.creditor = (_party_name(party, names), story.creditor[1])
            elif role == "DbtrAcct":
                story.debtor = (story.debtor[0], _account_id(party, names))
            elif role == "CdtrAcct":
                story.creditor = (story.creditor[0], _account_id(party, names))
    return story


def _party_name(party: etree._Element, names: dict[str, str]) -> str | None:
    """``Nm`` of a party: directly (.02-.07) or inside ``Pty`` (.08+)."""
    for child in children_of(party):
        key = names.get(child.tag)
        if key == "Nm":
            return _clean(child.text)
        if key == "Pty":
            return _party_name(child, names)
    return None


def _account_id(account: etree._Element, names: dict[str, str]) -> str | None:
    """``Id/IBAN``, else ``Id/Othr/Id`` of a cash account."""
    for child in children_of(account):
        if names.get(child.tag) == "Id":
            for choice in children_of(child):
                key = names.get(choice.tag)
                if key == "IBAN":
                    return _clean(choice.text)
                if key == "Othr":
                    return next(
                        (_clean(part.text) for part in children_of(choice) if names.get(part.tag) == "Id"),
                        None,
                    )
    return None
