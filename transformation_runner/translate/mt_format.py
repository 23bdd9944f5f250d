"""The MT940, MT942 and MT950 text blocks as one table in SWIFT notation, and their validator.

Field formats from the SWIFT User Handbook, Category 9 "Format Specifications" of MT940 (Customer
Statement Message), MT942 (Interim Transaction Report) and MT950 (Statement Message): 13D
``6!n4!n1!x4!n``, 20 and 21 ``16x``, 25 ``35x``, 28C ``5n[/5n]``, 34F ``3!a[1!a]15d``, 60a/62a/64/65
``1!a6!n3!a15d``, 61 ``6!n[4!n]2a[1!a]15d1!a3!c16x[//16x][34x]`` (subfield 9 on its own line), 86
``6*65x``, 90D/90C ``5n3!a15d``. A field has one format in all three messages, so the table is one;
each message type is a :class:`Layout` (its field order and whether entries carry an ``:86:``).
The table is compiled once at import; :func:`validate_block4` checks a whole text block, including
the rules a regex cannot say (field order, D/C marks, calendar dates and times, the ``/`` rules of
references, the 2,000-character text block of all three messages). The writer checks every produced
message before it leaves the translator with :func:`validate_page`: the same checks in the same
order, from the fields it already holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from transformation_runner.translate.errors import InvalidOutput
from transformation_runner.translate.notation import compile_field, field_regex

BALANCE = (("mark", "1!a"), ("date", "6!n"), ("currency", "3!a"), ("amount", "15d"))
FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "13D": (("date", "6!n"), ("time", "4!n"), ("sign", "1!x"), ("offset", "4!n")),
    "20": (("reference", "16x"),),
    "21": (("reference", "16x"),),
    "25": (("account", "35x"),),
    "28C": (("statement", "5n"), ("page", "[/5n]")),
    "34F": (("currency", "3!a"), ("mark", "[1!a]"), ("amount", "15d")),
    "60F": BALANCE,
    "60M": BALANCE,
    "61": (
        ("value_date", "6!n"),
        ("entry_date", "[4!n]"),
        ("mark", "2a"),
        ("funds_code", "[1!a]"),
        ("amount", "15d"),
        ("type", "1!a3!c"),
        ("reference", "16x"),
        ("servicer_reference", "[//16x]"),
        ("details", "[$34x]"),
    ),
    "62F": BALANCE,
    "62M": BALANCE,
    "64": BALANCE,
    "65": BALANCE,
    "86": (("narrative", "6*65x"),),
    "90D": (("number", "5n"), ("currency", "3!a"), ("amount", "15d")),
    "90C": (("number", "5n"), ("currency", "3!a"), ("amount", "15d")),
}
PATTERNS: dict[str, re.Pattern[str]] = {tag: compile_field(spec) for tag, spec in FIELDS.items()}
MAX_BLOCK4 = 2000  # MT940, MT942 and MT950 alike
_FIELD_START = re.compile(r"\r\n:([0-9]{2}[A-Z]?):")


def validate_reference(value: str) -> bool:
    """SWIFT reference rule (fields 20 and 61 sf7): no leading or trailing ``/``, no ``//``."""
    return not (value.startswith("/") or value.endswith("/") or "//" in value)


_BALANCES = frozenset(("60F", "60M", "62F", "62M", "64", "65"))


def _time(parts: dict[str, str | None]) -> bool:
    """13D: HHMM a time of day, the sign ``+`` or ``-``, the offset at most 14 hours (ISO 8601)."""
    time, sign, offset = parts["time"] or "", parts["sign"], parts["offset"] or ""
    hours, minutes = int(offset[:2]), int(offset[2:])
    return (
        int(time[:2]) < 24
        and int(time[2:]) < 60
        and sign in {"+", "-"}
        and minutes < 60
        and hours * 60 + minutes <= 14 * 60
    )


@lru_cache(maxsize=1024)
def _yymmdd(value: str) -> bool:
    try:
        date(2000 + int(value[:2]), int(value[2:4]), int(value[4:6]))
    except ValueError:
        return False
    return True


def validate_field(tag: str, value: str) -> dict[str, str | None]:  # noqa: PLR0912 - a check per rule
    """Check one field's content against the table; return its subfields or raise InvalidOutput."""
    pattern = PATTERNS.get(tag)
    match = pattern.match(value) if pattern else None
    if match is None:
        raise InvalidOutput(f"field :{tag}: {value!r} does not match its SWIFT format")
    parts = match.groupdict()
    problems = []
    if tag == "20" and not validate_reference(value):
        problems.append("reference slash rule")
    if tag == "61":
        if parts["mark"] not in {"C", "D", "RC", "RD"}:
            problems.append("debit/credit mark")
        if not validate_reference(parts["reference"] or ""):
            problems.append("reference slash rule")
        details = parts["details"] or ""
        if details[:1] in {"-", ":"}:
            problems.append("continuation line starts with '-' or ':'")
    if tag in _BALANCES and parts["mark"] not in {"C", "D"}:
        problems.append("debit/credit mark")
    if tag == "34F" and parts["mark"] not in {None, "C", "D"}:
        problems.append("debit/credit mark")
    if tag == "13D" and not _time(parts):
        problems.append("time or UTC offset")
    if tag == "86" and (parts["narrative"] or "")[:1] in {"-", ":"}:
        problems.append("line starts with '-' or ':'")
    if "date" in parts and not _yymmdd(parts["date"] or ""):
        problems.append("date")
    if tag == "61" and not _yymmdd(parts["value_date"] or ""):
        problems.append("value date")
    if problems:
        raise InvalidOutput(f"field :{tag}: {value!r} breaks: {', '.join(problems)}")
    return parts


# Field 61 with a plain x class in subfield 7: wider than PATTERNS["61"] (its reference may hold "//"),
# and several times faster (one character class instead of an alternation per character).
_61_WIDE = compile_field(FIELDS["61"], plain_x=True)
_MARKS_61 = frozenset(("C", "D", "RC", "RD"))
_61_GROUPS = tuple(_61_WIDE.groupindex[name] for name in ("value_date", "mark", "reference", "details"))


def validate_statement_line(value: str) -> None:
    """Check one field 61 content exactly as :func:`validate_field` does, without building a dict.

    Fast path: the wide pattern, then the same checks as :func:`validate_field`. When it matches and
    the reference keeps the slash rule (so holds no ``//``), ``PATTERNS["61"]`` matches too with the
    same groups: both try the same splits in the same order, the wide one at least as many. Anything
    else is handed to :func:`validate_field`, so a bad line raises the very same message.
    """
    match = _61_WIDE.match(value)
    if match is not None:
        value_date, mark, reference, details = match.group(*_61_GROUPS)
        if (
            mark in _MARKS_61
            and not (reference.startswith("/") or reference.endswith("/") or "//" in reference)
            and (details or "")[:1] not in {"-", ":"}
            and _yymmdd(value_date)
        ):
            return
    validate_field("61", value)


# Every field 61 of a page in one match, ``:61:`` + the lines joined by CRLF ``:61:``: the strict
# pattern of the table with the checks of validate_field() written into it (the D/C mark, the slash
# rule of the reference, no continuation line starting with "-" or ":"); only the calendar check of
# the value date stays outside. A page it accepts passes validate_statement_line() line by line; a page
# it refuses goes through validate_statement_line(), which names the line and what it breaks.
_61_RULES = {
    "mark": lambda body: "(?:C|D|RC|RD)",
    "reference": lambda body: f"(?!/){body}(?<!/)",
    "details": lambda body: f"(?![-:]){body}",
}
_61_LINE = field_regex(FIELDS["61"], named=False, rules=_61_RULES)
_86_LINE = field_regex(FIELDS["86"], named=False)  # its notation forbids "-" / ":" line starts
_NARRATIVE = "\r\n:86:"


@dataclass(frozen=True)
class Layout:
    """One message type: its number, field order, and whether each 61 may carry an ``:86:``.

    ``order`` is matched against the space-separated tags of a text block; its ``( 61( 86)?)*``
    part is where the entries go (a 61 and, in MT940/MT942, its optional 86). ``lines`` matches every
    entry of a page in one go: ``:61:`` + the entries joined by CRLF ``:61:``, each entry a 61 and,
    when ``narrative``, optionally CRLF ``:86:`` and its 86.
    """

    name: str
    number: str
    order: re.Pattern[str]
    narrative: bool  # entries carry an 86, and the message may close with one
    related: bool  # field 21 (the request the message answers) exists

    @property
    def lines(self) -> re.Pattern[str]:
        return _lines(self.narrative)


@lru_cache(maxsize=2)
def _lines(narrative: bool) -> re.Pattern[str]:
    entry = f"{_61_LINE}(?:\r\n:86:{_86_LINE})?" if narrative else _61_LINE
    return re.compile(f":61:{entry}(?:\r\n:61:{entry})*")


_ENTRIES = "( 61( 86)?)*"
MT950 = Layout("MT950", "950", re.compile(f"20 25 28C 60[FM]{_ENTRIES} 62[FM]( 64)?"), False, False)
MT940 = Layout(
    "MT940", "940", re.compile(f"20( 21)? 25 28C 60[FM]{_ENTRIES} 62[FM]( 64)?( 65)*( 86)?"), True, True
)
MT942 = Layout(
    "MT942", "942", re.compile(f"20( 21)? 25 28C 34F( 34F)? 13D{_ENTRIES}( 90D)?( 90C)?( 86)?"), True, True
)
LAYOUTS = {layout.name: layout for layout in (MT940, MT942, MT950)}


@lru_cache(maxsize=256)
def _field_ok(tag: str, value: str) -> bool:
    """:func:`validate_field` remembered for values that pass (20 and 25 repeat on every page)."""
    validate_field(tag, value)
    return True


def validate_entry(line: str) -> None:
    """One entry as the writer holds it: a 61, and after CRLF ``:86:`` its 86 when it has one."""
    statement_line, separator, narrative = line.partition(_NARRATIVE)
    validate_statement_line(statement_line)
    if separator:
        validate_field("86", narrative)


def validate_page(
    layout: Layout,
    block4: str,
    head: list[tuple[str, str]],
    lines: list[str],
    tail: list[tuple[str, str]],
    *,
    joined: str = "",
) -> None:
    """Validate a text block the writer assembled as ``head`` fields, ``lines`` (entries), ``tail``.

    Same checks, in the same order, as :func:`validate_block4` on ``block4`` (length, field order, then
    every field against the table), without splitting the block again: the writer already holds its
    fields, and no field value can contain a ``CRLF :tag:`` start (the X set has no CR or LF, and no
    continuation line starts with ``:``). An entry is its 61, or its 61 + CRLF ``:86:`` + its 86.
    """
    if len(block4) > MAX_BLOCK4:
        raise InvalidOutput(f"text block is {len(block4)} characters, more than {MAX_BLOCK4}")
    # The entries sit between head and tail, and the order takes any number of them there: checking
    # the order of head and tail alone is the same check.
    ends = [tag for tag, _ in head] + [tag for tag, _ in tail]
    if not layout.order.fullmatch(" ".join(ends)):
        tags = [tag for tag, _ in head] + ["61"] * len(lines) + [tag for tag, _ in tail]
        raise InvalidOutput(f"field order {tags} is not {layout.name}'s")
    for tag, value in head:
        _field_ok(tag, value)
    if not (
        lines
        and layout.lines.fullmatch(joined or ":61:" + "\r\n:61:".join(lines))
        and all(_yymmdd(value_date) for value_date in {line[:6] for line in lines})
    ):
        for line in lines:
            if _NARRATIVE in line and not layout.narrative:
                raise InvalidOutput(f"{layout.name} has no field 86 after a 61: {line!r}")
            validate_entry(line)
    for tag, value in tail:
        _field_ok(tag, value)


def split_block4(block4: str) -> list[tuple[str, str]]:
    """Split a text block ``CRLF :tag:value ... CRLF -`` into (tag, value) pairs."""
    if not block4.startswith("\r\n:") or not block4.endswith("\r\n-"):
        raise InvalidOutput("text block must start with CRLF ':' and end with CRLF '-'")
    body = block4[:-3]
    starts = list(_FIELD_START.finditer(body))
    fields = []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(body)
        fields.append((match.group(1), body[match.end() : end]))
    if not starts or starts[0].start() != 0:
        raise InvalidOutput("text block must start with a field tag")
    return fields


def validate_block4(block4: str, layout: Layout = MT950) -> list[tuple[str, str]]:
    """Validate a whole text block (between ``{4:`` and ``}``) of ``layout``; return its fields."""
    if len(block4) > MAX_BLOCK4:
        raise InvalidOutput(f"text block is {len(block4)} characters, more than {MAX_BLOCK4}")
    fields = split_block4(block4)
    if not layout.order.fullmatch(" ".join(tag for tag, _ in fields)):
        raise InvalidOutput(f"field order {[tag for tag, _ in fields]} is not {layout.name}'s")
    for tag, value in fields:
        validate_field(tag, value)
    return fields
